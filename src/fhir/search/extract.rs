//! Index extraction: evaluates every search parameter's FHIRPath expression over a resource
//! and turns what it selects into normalised [`IndexEntry`]s.
//! (Owner: the index-extraction work.)

use super::params::Registry;
use super::IndexEntry;
use serde_json::Value;

/// Every index entry of `resource` (whose type is `resource_type`) for every parameter the
/// registry holds for that type, including `_tag`, `_profile`, `_security`, `_source`
/// (`_id` and `_lastUpdated` are answered from the stored id and time, not from entries).
pub fn extract(registry: &Registry, resource_type: &str, resource: &Value) -> Vec<IndexEntry> {
    let _ = (registry, resource_type, resource);
    Vec::new()
}

/// The index entries of one parameter of `resource` (for `_include` and `_has`).
pub fn extract_param(
    registry: &Registry,
    resource_type: &str,
    code: &str,
    resource: &Value,
) -> Vec<IndexEntry> {
    let _ = (registry, resource_type, code, resource);
    Vec::new()
}
