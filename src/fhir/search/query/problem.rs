//! Why one parameter could not be used. The split decides what `Prefer: handling=lenient`
//! may skip: search.html lets a lenient server ignore parameters (and modifiers) it does not
//! know or support, but a bad value of a parameter it does support is always an error.

use crate::fhir::outcome::FhirError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Unknown or unsupported parameter or modifier: skipped when lenient.
    Unknown(String),
    /// A bad value or a malformed request: always 400.
    Invalid(String),
}

impl Problem {
    pub fn into_error(self) -> FhirError {
        match self {
            Problem::Unknown(m) | Problem::Invalid(m) => FhirError::invalid(m),
        }
    }
}
