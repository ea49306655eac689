//! FHIR R4 knowledge: the resource model and its validation, server-owned metadata, Bundles,
//! the CapabilityStatement. Knows nothing of HTTP or of databases.

pub mod bundle;
pub mod capability;
pub mod element_types;
pub mod fhirpath;
pub mod instant;
pub mod outcome;
pub mod patch;
pub mod payer;
pub mod primitives;
pub mod references;
pub mod resource;
pub mod search;
pub mod terminology;
