//! FHIR R4 element-type table, generated from the official StructureDefinitions
//! by `tools/gen_element_types.py` into `profiles/element-types.json`.
//!
//! Types are keyed by name: resources (`Patient`), datatypes (`HumanName`),
//! primitives (`date`, whose table only holds what a JSON `_date` object may
//! carry: `id` and `extension`) and anonymous BackboneElements, which are
//! named by their path (`Patient.contact`, `Bundle.entry`). Choice elements
//! are stored expanded (`valueQuantity`, `valueString`, ...); [`choices`]
//! maps the base name back to them.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

static SOURCE: &str = include_str!("../../profiles/element-types.json");

/// FHIR primitive types, so callers can dispatch on a value without comparing
/// type-name strings for every element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Primitive {
    Base64Binary,
    Boolean,
    Canonical,
    Code,
    Date,
    DateTime,
    Decimal,
    Id,
    Instant,
    Integer,
    Markdown,
    Oid,
    PositiveInt,
    String,
    Time,
    UnsignedInt,
    Uri,
    Url,
    Uuid,
    Xhtml,
}

impl Primitive {
    pub const ALL: [Primitive; 20] = [
        Primitive::Base64Binary,
        Primitive::Boolean,
        Primitive::Canonical,
        Primitive::Code,
        Primitive::Date,
        Primitive::DateTime,
        Primitive::Decimal,
        Primitive::Id,
        Primitive::Instant,
        Primitive::Integer,
        Primitive::Markdown,
        Primitive::Oid,
        Primitive::PositiveInt,
        Primitive::String,
        Primitive::Time,
        Primitive::UnsignedInt,
        Primitive::Uri,
        Primitive::Url,
        Primitive::Uuid,
        Primitive::Xhtml,
    ];

    /// The FHIR type name (`dateTime`, `positiveInt`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Base64Binary => "base64Binary",
            Primitive::Boolean => "boolean",
            Primitive::Canonical => "canonical",
            Primitive::Code => "code",
            Primitive::Date => "date",
            Primitive::DateTime => "dateTime",
            Primitive::Decimal => "decimal",
            Primitive::Id => "id",
            Primitive::Instant => "instant",
            Primitive::Integer => "integer",
            Primitive::Markdown => "markdown",
            Primitive::Oid => "oid",
            Primitive::PositiveInt => "positiveInt",
            Primitive::String => "string",
            Primitive::Time => "time",
            Primitive::UnsignedInt => "unsignedInt",
            Primitive::Uri => "uri",
            Primitive::Url => "url",
            Primitive::Uuid => "uuid",
            Primitive::Xhtml => "xhtml",
        }
    }

    pub fn from_name(name: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One element of a type: its type name and whether JSON holds it as an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElementDef {
    /// Type name as used as key of the table: `string`, `HumanName`,
    /// `Resource` (contained / Bundle.entry.resource), or a backbone path
    /// such as `Patient.contact`.
    pub type_name: &'static str,
    /// max is not "1": the JSON property is an array.
    pub is_array: bool,
    /// Set when `type_name` is a primitive type.
    pub primitive: Option<Primitive>,
}

/// The elements of one type or BackboneElement.
#[derive(Debug)]
pub struct TypeDef {
    name: &'static str,
    elements: HashMap<&'static str, ElementDef>,
    /// Insertion order of `elements` (definition order), for listing.
    order: Vec<&'static str>,
    choices: HashMap<&'static str, Vec<String>>,
}

impl TypeDef {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Looks up a JSON property name (choice elements by their expanded
    /// name, e.g. `valueQuantity`).
    pub fn element(&self, name: &str) -> Option<ElementDef> {
        self.elements.get(name).copied()
    }

    /// The expanded names of choice element `base` (`value` →
    /// `["valueQuantity", ...]`), in definition order.
    pub fn choices(&self, base: &str) -> Option<&[String]> {
        self.choices.get(base).map(Vec::as_slice)
    }

    /// All elements, in definition order when serde_json's `preserve_order`
    /// is enabled (as in the workspace), else alphabetically.
    pub fn elements(&self) -> impl Iterator<Item = (&'static str, ElementDef)> + '_ {
        self.order.iter().map(|n| (*n, self.elements[n]))
    }
}

struct Table {
    types: HashMap<&'static str, TypeDef>,
    resources: Vec<String>,
    primitives: Vec<String>,
    datatypes: Vec<String>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| load(SOURCE))
}

fn string_list(doc: &Value, key: &str) -> Vec<String> {
    let mut list: Vec<String> = doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("element-types.json: {key} missing"))
        .iter()
        .map(|v| v.as_str().expect("element-types.json: name").to_owned())
        .collect();
    list.sort_unstable();
    list
}

/// The generated file is part of the build, so a malformed one is a build
/// defect: panicking (once, on first use) is the right response.
fn load(source: &str) -> Table {
    let doc: Value = serde_json::from_str(source).expect("element-types.json is not JSON");

    // Type names are referenced from many elements; interning them once
    // lets `ElementDef` be `Copy` with a `'static` name. The table lives for
    // the whole process, so leaking its strings costs nothing extra.
    let mut interned: HashMap<String, &'static str> = HashMap::new();
    let mut intern = |s: &str| -> &'static str {
        if let Some(v) = interned.get(s) {
            return v;
        }
        let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
        interned.insert(s.to_owned(), leaked);
        leaked
    };

    let types_json = doc["types"]
        .as_object()
        .expect("element-types.json: types missing");
    let choices_json = doc["choices"].as_object();
    let mut types = HashMap::with_capacity(types_json.len());
    for (type_name, elements_json) in types_json {
        let elements_json = elements_json
            .as_object()
            .expect("element-types.json: type entry");
        let mut elements = HashMap::with_capacity(elements_json.len());
        let mut order = Vec::with_capacity(elements_json.len());
        for (name, def) in elements_json {
            let t = def["t"].as_str().expect("element-types.json: t");
            let name = intern(name);
            order.push(name);
            elements.insert(
                name,
                ElementDef {
                    type_name: intern(t),
                    is_array: def.get("m").and_then(Value::as_bool).unwrap_or(false),
                    primitive: Primitive::from_name(t),
                },
            );
        }
        let mut choices = HashMap::new();
        if let Some(c) = choices_json
            .and_then(|c| c.get(type_name))
            .and_then(Value::as_object)
        {
            for (base, names) in c {
                let names = names
                    .as_array()
                    .expect("element-types.json: choices")
                    .iter()
                    .map(|n| n.as_str().expect("choice name").to_owned())
                    .collect();
                choices.insert(intern(base), names);
            }
        }
        let name = intern(type_name);
        types.insert(
            name,
            TypeDef {
                name,
                elements,
                order,
                choices,
            },
        );
    }

    Table {
        types,
        resources: string_list(&doc, "resources"),
        primitives: string_list(&doc, "primitives"),
        datatypes: string_list(&doc, "datatypes"),
    }
}

/// Concrete (instantiable) resource type names, sorted.
pub fn resource_types() -> &'static [String] {
    &table().resources
}

pub fn is_resource_type(name: &str) -> bool {
    let list = resource_types();
    list.binary_search_by(|r| r.as_str().cmp(name)).is_ok()
}

/// Primitive type names, sorted.
pub fn primitive_types() -> &'static [String] {
    &table().primitives
}

pub fn is_primitive(type_name: &str) -> bool {
    Primitive::from_name(type_name).is_some()
}

/// Concrete complex datatype names (`Address` … `UsageContext`), sorted.
pub fn datatypes() -> &'static [String] {
    &table().datatypes
}

/// The element table of a type, resource or backbone path.
pub fn type_def(type_name: &str) -> Option<&'static TypeDef> {
    table().types.get(type_name)
}

/// `element("Patient", "birthDate")` → `date`, single.
pub fn element(type_name: &str, element: &str) -> Option<ElementDef> {
    type_def(type_name)?.element(element)
}

/// `choices("Observation", "value")` → `["valueQuantity", ...]`.
pub fn choices(type_name: &str, base: &str) -> Option<&'static [String]> {
    type_def(type_name)?.choices(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_list() {
        assert_eq!(resource_types().len(), 146);
        assert!(is_resource_type("Patient"));
        assert!(is_resource_type("Parameters"));
        assert!(!is_resource_type("DomainResource"));
        assert!(!is_resource_type("patient"));
        assert!(resource_types().windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn primitive_list_matches_enum() {
        let names: Vec<&str> = primitive_types().iter().map(String::as_str).collect();
        let mut from_enum: Vec<&str> = Primitive::ALL.iter().map(|p| p.name()).collect();
        from_enum.sort_unstable();
        assert_eq!(names, from_enum);
        assert!(is_primitive("dateTime"));
        assert!(!is_primitive("Quantity"));
        assert!(datatypes().iter().any(|d| d == "HumanName"));
    }

    #[test]
    fn elements() {
        let e = element("Patient", "birthDate").unwrap();
        assert_eq!(e.type_name, "date");
        assert!(!e.is_array);
        assert_eq!(e.primitive, Some(Primitive::Date));
        let e = element("Patient", "name").unwrap();
        assert_eq!(
            (e.type_name, e.is_array, e.primitive),
            ("HumanName", true, None)
        );
        assert_eq!(
            element("Patient", "contact").unwrap().type_name,
            "Patient.contact"
        );
        assert!(
            element("Patient.contact", "modifierExtension")
                .unwrap()
                .is_array
        );
        // Resource.id is overridden from the definitions' `string` to `id`.
        assert_eq!(element("Patient", "id").unwrap().type_name, "id");
        assert_eq!(
            element("Patient.contact", "id").unwrap().type_name,
            "string"
        );
        assert_eq!(element("Extension", "url").unwrap().type_name, "uri");
        assert_eq!(
            element("Bundle.entry", "resource").unwrap().type_name,
            "Resource"
        );
        assert_eq!(
            element("Questionnaire.item", "item").unwrap().type_name,
            "Questionnaire.item"
        );
        assert_eq!(element("Timing.repeat", "id").unwrap().type_name, "string");
        assert!(element("date", "extension").unwrap().is_array);
        assert!(element("date", "value").is_none());
        assert!(element("Patient", "value").is_none());
        assert!(element("Nope", "id").is_none());
        // Order itself depends on serde_json's preserve_order; content not.
        let mut names: Vec<&str> = type_def("Patient")
            .unwrap()
            .elements()
            .map(|e| e.0)
            .collect();
        names.sort_unstable();
        assert_eq!(names.len(), 26);
        assert!(names.binary_search(&"implicitRules").is_ok());
    }

    #[test]
    fn choice_elements() {
        let v = choices("Observation", "value").unwrap();
        assert_eq!(v[0], "valueQuantity");
        assert!(v.iter().any(|n| n == "valueString"));
        assert_eq!(
            element("Observation", "valueQuantity").unwrap().type_name,
            "Quantity"
        );
        assert_eq!(
            element("Observation.component", "valueTime")
                .unwrap()
                .primitive,
            Some(Primitive::Time)
        );
        assert_eq!(choices("Extension", "value").unwrap().len(), 50);
        assert!(choices("Observation", "status").is_none());
    }
}
