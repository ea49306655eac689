//! The FHIRPath subset that the R4 SearchParameter expressions use, evaluated over resources
//! as JSON with element types from the R4 StructureDefinitions (`element_types`).
//! (Owner: the index-extraction work; this file fixes the API that extraction relies on.)

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FhirPathError(pub String);

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expression {
    _private: (),
}

/// One item of a result collection: a JSON value with the FHIR type it has at that place
/// (`HumanName`, `CodeableConcept`, `Reference`, `dateTime`, `Patient` …).
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub value: std::borrow::Cow<'a, Value>,
    pub type_name: String,
}

impl Expression {
    pub fn parse(source: &str) -> Result<Expression, FhirPathError> {
        let _ = source;
        todo!()
    }

    /// Evaluates the expression with `resource` as `%resource` and the context.
    pub fn evaluate<'a>(&self, resource: &'a Value) -> Result<Vec<Item<'a>>, FhirPathError> {
        let _ = resource;
        todo!()
    }
}
