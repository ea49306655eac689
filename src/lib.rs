//! fhird: a FHIR R4 server for clinics and health-insurance payers. See DESIGN.md (in the
//! shared folder) for the architecture; dependencies point downwards:
//! http → interactions → fhir, store.

pub mod config;
pub mod fhir;
pub mod http;
pub mod import;
pub mod interactions;
pub mod partition;
pub mod seed;
pub mod store;
