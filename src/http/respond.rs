//! Turning results and errors into HTTP responses in the negotiated format.

use super::negotiate::{Format, Output};
use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Response, StatusCode};
use bytes::Bytes;
use serde_json::Value;

pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status().0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Renders stored or built JSON in the output format. Stored JSON is already compact, so the
/// common case (compact JSON) copies nothing.
pub fn render(out: &Output, json: Bytes) -> FhirResult<Bytes> {
    match (out.format, out.pretty) {
        (Format::Json, false) => Ok(json),
        (Format::Json, true) => {
            let v: Value = serde_json::from_slice(&json)
                .map_err(|e| FhirError::new(ErrorKind::Internal, e.to_string()))?;
            Ok(Bytes::from(
                serde_json::to_vec_pretty(&v).unwrap_or_default(),
            ))
        }
        (Format::Xml, _) => fhir_model::json_to_xml(&json)
            .map(Bytes::from)
            .map_err(|e| FhirError::new(ErrorKind::Internal, format!("Could not render XML: {e}"))),
    }
}

pub fn value_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// A response under construction.
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Option<Bytes>,
}

impl Reply {
    pub fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn json(status: StatusCode, json: Bytes) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(json),
        }
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn into_response(self, out: &Output) -> Response<Body> {
        let body = match self.body {
            None => None,
            Some(json) => match render(out, json) {
                Ok(b) => Some(b),
                Err(e) => return error_response(&e, &Output::DEFAULT),
            },
        };
        let mut builder = Response::builder().status(self.status);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                builder = builder.header(name, v);
            }
        }
        match body {
            Some(b) => builder
                .header(header::CONTENT_TYPE, out.content_type())
                .body(Body::from(b)),
            None => builder.body(Body::empty()),
        }
        .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

pub fn error_response(e: &FhirError, out: &Output) -> Response<Body> {
    if e.kind == ErrorKind::Internal {
        tracing::error!("internal error: {}", e.message());
    }
    let mut reply = Reply::json(status_of(e.kind), value_bytes(&e.to_operation_outcome()));
    if e.kind == ErrorKind::Unavailable {
        reply = reply.header(header::RETRY_AFTER, "1");
    }
    reply.into_response(out)
}

/// 405 with the `Allow` header listing what the path does support.
pub fn method_not_allowed(method: &str, allow: &str) -> Reply {
    let e = FhirError::new(
        ErrorKind::MethodNotAllowed,
        format!("{method} is not allowed here; allowed: {allow}"),
    );
    Reply::json(status_of(e.kind), value_bytes(&e.to_operation_outcome()))
        .header(header::ALLOW, allow)
}
