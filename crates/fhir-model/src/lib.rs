//! The only place that touches fhirbolt.
//!
//! fhirbolt's (de)serialisers are generic and get monomorphised in whichever crate calls them,
//! which costs minutes of compile time on every change to that crate. Everything here is
//! non-generic so the server crate never instantiates them and rebuilds quickly.
//!
//! Always go through the `Resource` enum: fhirbolt 0.4 mis-parses decimals when asked for a
//! concrete resource struct directly.

use fhirbolt::model::r4::Resource;
use fhirbolt::serde::{DeserializationConfig, DeserializationMode};

/// Why the typed R4 model rejected a resource. `message` is fhirbolt's own explanation
/// (it names the offending field and, for JSON input, the line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    pub message: String,
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {}

fn strict() -> Option<DeserializationConfig> {
    Some(DeserializationConfig {
        mode: DeserializationMode::Strict,
    })
}

fn err(e: impl std::fmt::Display) -> ModelError {
    ModelError {
        message: e.to_string(),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Resource, ModelError> {
    fhirbolt::json::from_slice::<Resource>(bytes, strict()).map_err(err)
}

/// Checks that `bytes` is one R4 resource in JSON that the typed model accepts in strict mode
/// (known elements only, right cardinality, right types, required elements present).
pub fn check_json(bytes: &[u8]) -> Result<(), ModelError> {
    parse_json(bytes).map(|_| ())
}

/// Converts an R4 resource from JSON to its XML form.
pub fn json_to_xml(bytes: &[u8]) -> Result<String, ModelError> {
    let resource = parse_json(bytes)?;
    fhirbolt::xml::to_string(&resource, None).map_err(err)
}

/// Converts an R4 resource from XML to its JSON form (validated by the same strict parse).
pub fn xml_to_json(bytes: &[u8]) -> Result<Vec<u8>, ModelError> {
    let resource = fhirbolt::xml::from_slice::<Resource>(bytes, strict()).map_err(err)?;
    fhirbolt::json::to_vec(&resource, None).map_err(err)
}
