//! The FHIRPath subset that the R4 SearchParameter expressions use, evaluated over resources
//! as JSON with element types from the R4 StructureDefinitions (`element_types`).
//!
//! Supported: paths from a type name (`Patient.name`; a type the focus is not selects nothing,
//! which is how multi-base expressions work) or from an element, choice elements, `|`, `=`,
//! `!=`, `and`, `or`, `is`/`as` (operators and functions), `ofType`, `where`, `exists`,
//! `empty`, `not`, `first`, `last`, `count`, `hasValue`, `resolve` (to a placeholder of the
//! referenced type, for `resolve() is T`), `extension(url)`, indexers, `%resource`, `$this`,
//! string/number/boolean literals. Anything else fails to parse, and so does a type name that
//! names no type.
//!
//! Literals and computed values have System types (`Boolean`, `String`, `Integer`,
//! `Decimal`); elements have FHIR types. `is` follows the FHIR type hierarchy (`code` is a
//! `string`, `Age` a `Quantity`) and keeps System and FHIR types apart; `as` and `ofType` match
//! exactly, except that System names fold onto FHIR primitives, and filter a collection rather
//! than fail on one, as the search expressions need. Deliberate differences from the full
//! language, checked against the official test suite in `official_tests.rs`: no strict mode
//! (unknown elements select nothing, choice elements may also be named `valueQuantity`), `|`
//! keeps duplicates, and `extension(url)` does not read the extensions of primitive elements
//! (the JSON `_element` sibling).
//!
//! [`Expression::locate`] gives, for the path subset FHIRPath Patch uses, where each selected
//! item is in the resource (see `locate.rs`).

mod eval;
mod lexer;
mod locate;
mod parser;

use serde_json::Value;

pub(crate) use eval::TItem;
pub use locate::{ElementRef, LocateError, Location, Step};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FhirPathError(pub String);

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expression {
    root: parser::Node,
    /// The type of what the expression selects, when known before evaluation and single.
    selects: Option<&'static str>,
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
        let tokens = lexer::tokenize(source)?;
        Ok(Expression {
            root: parser::parse(&tokens)?,
            selects: None,
        })
    }

    /// Evaluates the expression with `resource` as `%resource` and the context.
    pub fn evaluate<'a>(&self, resource: &'a Value) -> Result<Vec<Item<'a>>, FhirPathError> {
        Ok(self
            .evaluate_typed(resource, &[eval::resource_item(resource)])?
            .into_iter()
            .map(public)
            .collect())
    }

    /// Evaluates the expression with `focus` as context and `resource` as `%resource` (as a
    /// composite parameter's components are evaluated on each item its base selects).
    pub fn evaluate_on<'a>(
        &self,
        resource: &'a Value,
        focus: &Item<'a>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        let focus = TItem {
            value: focus.value.clone(),
            ty: eval::static_type(&focus.type_name).unwrap_or("Element"),
        };
        Ok(self
            .evaluate_typed(resource, &[focus])?
            .into_iter()
            .map(public)
            .collect())
    }

    /// Evaluation without converting type names to owned strings (the extraction hot path).
    pub(crate) fn evaluate_typed<'a>(
        &self,
        resource: &'a Value,
        focus: &[TItem<'a>],
    ) -> Result<Vec<TItem<'a>>, FhirPathError> {
        eval::eval(&self.root, focus, &eval::Ctx { resource })
    }

    /// The root item of `resource` for [`Expression::evaluate_typed`].
    pub(crate) fn root_item(resource: &Value) -> TItem<'_> {
        eval::resource_item(resource)
    }

    /// This expression for resources of type `resource_type` only: union branches that start
    /// from another type are dropped, and element steps are resolved ahead of evaluation.
    /// `None` when no branch applies. Evaluates like the original on such resources.
    pub fn specialize(&self, resource_type: &str) -> Option<Expression> {
        let root = eval::specialize(&self.root, resource_type)?;
        let t = eval::static_type(resource_type);
        Some(self.resolved(&root, t, t))
    }

    /// This expression with element steps resolved ahead of evaluation, for a focus of type
    /// `focus_type` (e.g. [`Expression::selects`] of a composite's base) in a resource of
    /// type `resource_type`. Evaluates like the original on such a focus.
    pub fn for_focus(&self, resource_type: &str, focus_type: Option<&str>) -> Expression {
        let focus = focus_type.and_then(eval::static_type);
        self.resolved(&self.root, focus, eval::static_type(resource_type))
    }

    fn resolved(
        &self,
        root: &parser::Node,
        focus: Option<&'static str>,
        resource: Option<&'static str>,
    ) -> Expression {
        let (root, selects) = eval::resolve_fields(root, eval::Statics { focus, resource });
        Expression { root, selects }
    }

    /// Where in `resource` the items this expression selects are, for changing them (FHIRPath
    /// Patch). Only paths that [`Expression::check_locatable`] accepts can be located.
    pub fn locate(&self, resource: &Value) -> Result<Vec<Location>, LocateError> {
        locate::locate(&self.root, resource)
    }

    /// Whether [`Expression::locate`] can follow this expression; why not otherwise.
    pub fn check_locatable(&self) -> Result<(), String> {
        locate::check(&self.root)
    }

    /// `a.b.name` as `a.b` and `name` (a bare `name` as `$this` and `name`); `None` when the
    /// expression does not end with a member step.
    pub fn split_last_member(&self) -> Option<(Expression, &str)> {
        let (parent, name) = match &self.root {
            parser::Node::Member(target, name) => ((**target).clone(), name),
            parser::Node::Root(name) if !eval::is_type_name(name) => (parser::Node::This, name),
            _ => return None,
        };
        let parent = Expression {
            root: parent,
            selects: None,
        };
        Some((parent, name.as_str()))
    }

    /// The most items this expression selects from one resource of `resource_type` that
    /// passed validation, by FHIR's cardinalities; `None` when they do not bound it
    /// (`Encounter.subject`: 1; `Patient.identifier`: `None`).
    pub fn max_items(&self, resource_type: &str) -> Option<usize> {
        let t = eval::static_type(resource_type);
        eval::max_items(
            &self.root,
            eval::Statics {
                focus: t,
                resource: t,
            },
        )
        .0
    }

    /// The FHIR type of every item the expression selects, when a specialised expression
    /// knows it before evaluation (`Observation.component` → `Observation.component`).
    pub fn selects(&self) -> Option<&str> {
        self.selects
    }
}

fn public(i: TItem<'_>) -> Item<'_> {
    Item {
        value: i.value,
        type_name: i.ty.to_string(),
    }
}

#[cfg(test)]
mod official_tests;
#[cfg(test)]
mod tests;
