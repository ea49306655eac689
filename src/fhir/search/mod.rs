//! FHIR search: the official SearchParameter definitions, the index entries extracted from a
//! resource at write time, and the parsed form of a search request. Knows nothing of HTTP or of
//! databases: the stores translate [`query::StoreQuery`] into their own query language.
//!
//! Index entries are normalised here, once, at write time (DESIGN.md §3), so a query never has
//! to normalise stored data.

pub mod compartment;
pub mod extract;
pub mod geo;
pub mod params;
pub mod query;
pub mod subset;
pub mod text;
pub mod values;

/// One searchable value of one resource, for one search parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// The search parameter's `code` (`name`, `subject`, `code-value-quantity`), or for the
    /// token entries that back `:identifier` on a reference parameter, `{code}:identifier`.
    pub param: String,
    pub value: IndexValue,
}

/// A normalised search value. Ranges are inclusive on both ends.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// `norm`: lower-cased, accent-folded, whitespace-collapsed (see `values::normalize_string`);
    /// `exact`: the value as written.
    String { norm: String, exact: String },
    /// Coding / CodeableConcept (one entry per coding) / Identifier / ContactPoint / code /
    /// boolean / string-as-token. `text`: normalised display or CodeableConcept.text or
    /// Identifier.type.text, for `:text`.
    Token {
        system: Option<String>,
        code: Option<String>,
        text: Option<String>,
    },
    /// The instant range a date, dateTime, instant, Period or Timing event covers, in
    /// microseconds since the epoch (UTC). An open Period end is `i64::MIN` / `i64::MAX`.
    Date { low: i64, high: i64 },
    /// A number, or a Range of numbers: `low`..`high` is the interval of values it covers (a
    /// single value: both equal `value`; a Range: its bounds, `f64::MIN`/`MAX` when open;
    /// `value` is then the midpoint). search.html compares the search value's precision range
    /// with this interval.
    Number { value: f64, low: f64, high: f64 },
    /// A Quantity (or Money, Age, Duration …, or a Range of them) with its interval as for
    /// `Number`, system, code and unit.
    Quantity {
        value: f64,
        low: f64,
        high: f64,
        system: Option<String>,
        code: Option<String>,
        unit: Option<String>,
    },
    /// A Reference or canonical. `target_type`/`id` are set for relative references and for
    /// absolute ones of the `{base}/{Type}/{id}` shape; `url` is the reference as normalised
    /// text (`Patient/123` for local, the full URL otherwise, canonical without `|version`).
    Reference {
        target_type: Option<String>,
        id: Option<String>,
        url: String,
        version: Option<String>,
    },
    /// uri, url, canonical used as uri, oid, uuid.
    Uri { value: String },
    /// One combination of component values of a composite parameter, in definition order.
    Composite(Vec<IndexValue>),
    /// A position (Location.position) in degrees, WGS84, for `near` (`geo`).
    Position { lat: f64, lng: f64 },
}
