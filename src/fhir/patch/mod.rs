//! The bodies of a PATCH interaction applied to a resource held as JSON: JSON Patch
//! (RFC 6902), FHIRPath Patch (a `Parameters` resource) and JSON Merge Patch (RFC 7386).
//!
//! Pure functions from (resource, patch) to the patched resource or an error. A malformed
//! patch is `Invalid` (400), a well-formed one that does not fit this resource is
//! `Unprocessable` (422). Validating the result against the R4 model, and refusing an `id`
//! change, is the caller's job; a change of `resourceType` is refused here.
//!
//! FHIRPath Patch limitations: paths are the subset `Expression::locate` follows (member
//! steps, choice elements, indexers, `where`, `first`, `last`, `extension(url)`, `ofType`,
//! `as`); a primitive's id and extensions (`_birthDate`) can be set with the value
//! (`_valueDate` beside `valueDate`), are kept in step when list items move, and go with
//! the value when it is deleted or replaced (a replace without `_valueX` leaves none); they
//! cannot be patched on their own (no path reaches them).

mod fhirpath_patch;
mod json_patch;
mod merge_patch;
mod operation;
mod tree;
mod value;

pub use self::fhirpath_patch::apply_fhirpath_patch;
pub use self::json_patch::apply_json_patch;
pub use self::merge_patch::apply_merge_patch;

#[cfg(test)]
mod tests;
