//! Errors as FHIR sees them: an OperationOutcome plus the kind of failure.
//!
//! The kind is protocol-neutral; the HTTP layer maps it to a status code, and Bundle processing
//! (later) maps it to `entry.response.status`.

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or violates the protocol (HTTP 400).
    Invalid,
    /// The request is well formed but the resource breaks a rule (HTTP 422).
    Unprocessable,
    NotFound,
    Gone,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    TooLarge,
    UnsupportedMediaType,
    NotAcceptable,
    Timeout,
    NotImplemented,
    /// The store is unreachable or refused the write for a transient reason (HTTP 503).
    Unavailable,
    /// A bug. Every use of this is a defect to fix, never an expected answer.
    Internal,
}

impl ErrorKind {
    /// The HTTP status a failure of this kind answers with (also `Bundle.entry.response.status`).
    pub fn http_status(self) -> (u16, &'static str) {
        match self {
            ErrorKind::Invalid => (400, "Bad Request"),
            ErrorKind::Unprocessable => (422, "Unprocessable Entity"),
            ErrorKind::NotFound => (404, "Not Found"),
            ErrorKind::Gone => (410, "Gone"),
            ErrorKind::MethodNotAllowed => (405, "Method Not Allowed"),
            ErrorKind::Conflict => (409, "Conflict"),
            ErrorKind::PreconditionFailed => (412, "Precondition Failed"),
            ErrorKind::TooLarge => (413, "Payload Too Large"),
            ErrorKind::UnsupportedMediaType => (415, "Unsupported Media Type"),
            ErrorKind::NotAcceptable => (406, "Not Acceptable"),
            ErrorKind::Timeout => (408, "Request Timeout"),
            ErrorKind::NotImplemented => (501, "Not Implemented"),
            ErrorKind::Unavailable => (503, "Service Unavailable"),
            ErrorKind::Internal => (500, "Internal Server Error"),
        }
    }

    /// The OperationOutcome `issue.code` (http://hl7.org/fhir/issue-type) that fits this kind.
    pub fn issue_code(self) -> &'static str {
        match self {
            ErrorKind::Invalid | ErrorKind::Unprocessable => "invalid",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Gone => "deleted",
            ErrorKind::MethodNotAllowed | ErrorKind::NotImplemented => "not-supported",
            ErrorKind::Conflict | ErrorKind::PreconditionFailed => "conflict",
            ErrorKind::TooLarge => "too-long",
            ErrorKind::UnsupportedMediaType | ErrorKind::NotAcceptable => "not-supported",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "transient",
            ErrorKind::Internal => "exception",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: &'static str,
    pub code: &'static str,
    pub diagnostics: String,
    /// FHIRPath location of the element the issue is about, when there is one.
    pub expression: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirError {
    pub kind: ErrorKind,
    pub issues: Vec<Issue>,
}

pub type FhirResult<T> = Result<T, FhirError>;

impl FhirError {
    pub fn new(kind: ErrorKind, diagnostics: impl Into<String>) -> Self {
        FhirError {
            kind,
            issues: vec![Issue {
                severity: "error",
                code: kind.issue_code(),
                diagnostics: diagnostics.into(),
                expression: None,
            }],
        }
    }

    pub fn at(
        kind: ErrorKind,
        expression: impl Into<String>,
        diagnostics: impl Into<String>,
    ) -> Self {
        let mut e = FhirError::new(kind, diagnostics);
        e.issues[0].expression = Some(expression.into());
        e
    }

    pub fn invalid(diagnostics: impl Into<String>) -> Self {
        FhirError::new(ErrorKind::Invalid, diagnostics)
    }

    pub fn not_found(diagnostics: impl Into<String>) -> Self {
        FhirError::new(ErrorKind::NotFound, diagnostics)
    }

    /// The same error, said of a Bundle entry: `Bundle.entry[i]` goes before every message
    /// and location.
    pub fn in_entry(mut self, index: usize, what: &str) -> Self {
        for i in &mut self.issues {
            i.diagnostics = format!("Bundle.entry[{index}] ({what}): {}", i.diagnostics);
            if let Some(e) = &mut i.expression {
                *e = format!("Bundle.entry[{index}].resource.{e}");
            }
        }
        self
    }

    pub fn message(&self) -> String {
        self.issues
            .iter()
            .map(|i| i.diagnostics.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn to_operation_outcome(&self) -> Value {
        operation_outcome(&self.issues)
    }
}

impl std::fmt::Display for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message())
    }
}

impl std::error::Error for FhirError {}

pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut m = Map::new();
            m.insert("severity".into(), json!(i.severity));
            m.insert("code".into(), json!(i.code));
            m.insert("diagnostics".into(), json!(i.diagnostics));
            if let Some(e) = &i.expression {
                m.insert("expression".into(), json!([e]));
            }
            Value::Object(m)
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

/// An informational outcome, e.g. the body of a successful delete.
pub fn information(diagnostics: impl Into<String>) -> Value {
    operation_outcome(&[Issue {
        severity: "information",
        code: "informational",
        diagnostics: diagnostics.into(),
        expression: None,
    }])
}
