//! What a FHIRPath Patch writes: the JSON name an element takes in its parent (a choice
//! element's by the value's type), whether it is a list, and the JSON a `value` part becomes,
//! checked against the element's type as the spec requires ("Servers SHALL return an error if
//! the type is wrong").

use super::operation::NewValue;
use super::tree::{self, Built};
use crate::fhir::element_types;
use serde_json::{Map, Value};

/// Where element `name` of a type goes in JSON.
pub(super) struct Slot {
    /// The JSON property: `birthDate`, `deceasedBoolean` …
    pub key: String,
    /// Max cardinality `*`: a JSON array.
    pub is_array: bool,
    /// The element's type in the table (`date`, `HumanName`, `Patient.contact`, `Resource`).
    pub declared: &'static str,
}

/// The slot of element `name` (a choice element by its base name, with the type of the value
/// to write picking the variant) in an object of type `parent`.
pub(super) fn slot(parent: &str, name: &str, value_type: Option<&str>) -> Result<Slot, String> {
    let td = element_types::type_def(parent)
        .ok_or_else(|| format!("the elements of type {parent} are not known"))?;
    if let Some(def) = td.element(name) {
        return Ok(Slot {
            key: name.to_string(),
            is_array: def.is_array,
            declared: def.type_name,
        });
    }
    if td.choices(name).is_some() {
        let vt = value_type.ok_or_else(|| {
            format!("{parent}.{name}[x] is a choice element: its value must be a value[x], which names its type")
        })?;
        let key = format!("{name}{}", upper_first(vt));
        let def = td
            .element(&key)
            .ok_or_else(|| format!("{parent}.{name}[x] cannot be of type {vt}"))?;
        return Ok(Slot {
            key,
            is_array: def.is_array,
            declared: def.type_name,
        });
    }
    Err(format!("{parent} has no element '{name}'"))
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The Quantity profiles share Quantity's JSON shape, and the table types SimpleQuantity and
/// MoneyQuantity elements as Quantity.
fn is_quantity(t: &str) -> bool {
    matches!(
        t,
        "Quantity" | "Age" | "Count" | "Distance" | "Duration" | "SimpleQuantity" | "MoneyQuantity"
    )
}

/// The JSON for `value` written into an element of type `declared`.
///
/// Primitives fit any primitive element: their JSON is the same kind of scalar whatever the
/// type, and the caller's validation of the result checks the lexical form (a `valueString`
/// for a `code` is common and harmless). Complex values must be of the element's type.
pub(super) fn build(value: &NewValue<'_>, declared: &str) -> Result<Built, String> {
    let declared_primitive = element_types::is_primitive(declared);
    match value {
        NewValue::Typed {
            type_name,
            json,
            shadow,
        } => {
            let fits = if element_types::is_primitive(type_name) {
                declared_primitive
            } else {
                type_name == declared || (is_quantity(type_name) && is_quantity(declared))
            };
            if !fits {
                return Err(format!(
                    "the element is of type {declared}; a {type_name} value does not fit"
                ));
            }
            Ok(Built {
                json: (*json).clone(),
                shadow: shadow.filter(|_| declared_primitive).cloned(),
            })
        }
        NewValue::Resource(resource) => {
            if declared != "Resource" {
                return Err(format!(
                    "the element is of type {declared}; a resource does not fit"
                ));
            }
            Ok(Built {
                json: (*resource).clone(),
                shadow: None,
            })
        }
        NewValue::Parts(parts) => {
            if declared_primitive || declared == "Resource" {
                return Err(format!(
                    "the element is of type {declared}, which cannot be built from parts"
                ));
            }
            Ok(Built {
                json: Value::Object(object(declared, parts)?),
                shadow: None,
            })
        }
    }
}

/// An element of type `ty` built from named parts (spec: "value" as parts).
fn object(ty: &str, parts: &[(&str, NewValue<'_>)]) -> Result<Map<String, Value>, String> {
    let mut obj = Map::new();
    for (name, value) in parts {
        let slot = slot(ty, name, value.type_name())?;
        let built = build(value, slot.declared).map_err(|e| format!("{ty}.{name}: {e}"))?;
        if slot.is_array {
            tree::push(&mut obj, &slot.key, built);
        } else if obj.contains_key(&slot.key) {
            return Err(format!(
                "{ty}.{name} is a single element but has more than one part"
            ));
        } else {
            tree::set_single(&mut obj, &slot.key, built);
        }
    }
    if obj.is_empty() {
        return Err(format!("the parts of the {ty} are empty"));
    }
    Ok(obj)
}
