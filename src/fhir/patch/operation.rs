//! A FHIRPath Patch `Parameters` resource read into operations. Everything that makes the
//! document malformed, whatever resource it is applied to, is found here (400); whether an
//! operation fits the resource is decided when it is applied (422).

use crate::fhir::element_types;
use crate::fhir::fhirpath::Expression;
use serde_json::Value;

/// Longest path accepted, and deepest nesting of `(` / `[` in it: the FHIRPath parser is
/// recursive, so an unbounded path from a client could exhaust the stack.
const MAX_PATH_LEN: usize = 4096;
const MAX_PATH_NESTING: usize = 32;

pub(super) struct Operation<'a> {
    pub path: &'a str,
    pub expr: Expression,
    pub kind: Kind<'a>,
}

pub(super) enum Kind<'a> {
    Add { name: &'a str, value: NewValue<'a> },
    Insert { index: i64, value: NewValue<'a> },
    Delete,
    Replace { value: NewValue<'a> },
    Move { source: i64, destination: i64 },
}

impl Kind<'_> {
    pub fn code(&self) -> &'static str {
        match self {
            Kind::Add { .. } => "add",
            Kind::Insert { .. } => "insert",
            Kind::Delete => "delete",
            Kind::Replace { .. } => "replace",
            Kind::Move { .. } => "move",
        }
    }
}

/// The `value` part of an operation.
pub(super) enum NewValue<'a> {
    /// `value[x]`: the FHIR type its suffix names, its JSON, and the `_value[x]` object that
    /// carries a primitive's id and extensions.
    Typed {
        type_name: String,
        json: &'a Value,
        shadow: Option<&'a Value>,
    },
    /// `resource`: e.g. a contained resource.
    Resource(&'a Value),
    /// Nested parts that build an element (anonymous types such as `Patient.contact`, or any
    /// complex type): each a child element name and its value.
    Parts(Vec<(&'a str, NewValue<'a>)>),
}

impl NewValue<'_> {
    /// The type a `value[x]` names, which picks the variant of a choice element.
    pub fn type_name(&self) -> Option<&str> {
        match self {
            NewValue::Typed { type_name, .. } => Some(type_name),
            NewValue::Resource(_) | NewValue::Parts(_) => None,
        }
    }
}

/// An error in operation `index` (`None`: in the document as a whole).
pub(super) type ParseError = (Option<usize>, String);

pub(super) fn parse(parameters: &Value) -> Result<Vec<Operation<'_>>, ParseError> {
    let whole = |m: &str| (None, m.to_string());
    if parameters.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(whole("a FHIRPath Patch must be a Parameters resource"));
    }
    let params = match parameters.get("parameter") {
        // No operations: an empty diff, which changes nothing (official case "No Difference").
        None => return Ok(Vec::new()),
        Some(Value::Array(p)) => p,
        Some(_) => return Err(whole("Parameters.parameter must be an array")),
    };
    params
        .iter()
        .enumerate()
        .map(|(i, p)| operation(p).map_err(|m| (Some(i), m)))
        .collect()
}

fn operation(param: &Value) -> Result<Operation<'_>, String> {
    match param.get("name").and_then(Value::as_str) {
        Some("operation") => {}
        Some(other) => {
            return Err(format!(
                "the parameter is named '{other}'; FHIRPath Patch parameters are named 'operation'"
            ))
        }
        None => return Err("the parameter has no name".into()),
    }
    let parts = match param.get("part") {
        Some(Value::Array(parts)) if !parts.is_empty() => parts,
        _ => return Err("the operation has no parts (type, path, …)".into()),
    };
    let mut found = Parts::default();
    for part in parts {
        found.add(part)?;
    }
    let code = found
        .type_
        .ok_or("the operation has no 'type' part")?
        .get("valueCode")
        .or_else(|| found.type_.and_then(|t| t.get("valueString")))
        .and_then(Value::as_str)
        .ok_or("the 'type' part needs a valueCode")?;
    let path = string(found.path, "path")?;
    let expr = parse_path(path)?;
    let value = || {
        found
            .value
            .ok_or_else(|| "the operation needs a 'value' part".to_string())
            .and_then(new_value)
    };
    let kind = match code {
        "add" => Kind::Add {
            name: string(found.name, "name")?,
            value: value()?,
        },
        "insert" => Kind::Insert {
            index: integer(found.index, "index")?,
            value: value()?,
        },
        "delete" => Kind::Delete,
        "replace" => Kind::Replace { value: value()? },
        "move" => Kind::Move {
            source: integer(found.source, "source")?,
            destination: integer(found.destination, "destination")?,
        },
        other => {
            return Err(format!(
                "unknown FHIRPath Patch type '{other}' (add, insert, delete, replace or move)"
            ))
        }
    };
    if matches!(kind, Kind::Insert { .. } | Kind::Move { .. }) && expr.split_last_member().is_none()
    {
        return Err(format!(
            "the path of {code} must name the list, ending with an element name: '{path}'"
        ));
    }
    Ok(Operation { path, expr, kind })
}

/// The parts of one operation, each at most once.
#[derive(Default)]
struct Parts<'a> {
    type_: Option<&'a Value>,
    path: Option<&'a Value>,
    name: Option<&'a Value>,
    value: Option<&'a Value>,
    index: Option<&'a Value>,
    source: Option<&'a Value>,
    destination: Option<&'a Value>,
}

impl<'a> Parts<'a> {
    fn add(&mut self, part: &'a Value) -> Result<(), String> {
        let name = part
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a part has no name")?;
        let slot = match name {
            "type" => &mut self.type_,
            "path" => &mut self.path,
            "name" => &mut self.name,
            "value" => &mut self.value,
            "index" => &mut self.index,
            "source" => &mut self.source,
            "destination" => &mut self.destination,
            other => return Err(format!("unknown part '{other}'")),
        };
        if slot.replace(part).is_some() {
            return Err(format!("the part '{name}' is given more than once"));
        }
        Ok(())
    }
}

fn string<'a>(part: Option<&'a Value>, name: &str) -> Result<&'a str, String> {
    part.ok_or_else(|| format!("the operation needs a '{name}' part"))?
        .get("valueString")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the '{name}' part needs a valueString"))
}

fn integer(part: Option<&Value>, name: &str) -> Result<i64, String> {
    part.ok_or_else(|| format!("the operation needs a '{name}' part"))?
        .get("valueInteger")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("the '{name}' part needs a valueInteger"))
}

fn parse_path(path: &str) -> Result<Expression, String> {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for c in path.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        deepest = deepest.max(depth);
    }
    if path.len() > MAX_PATH_LEN || deepest > MAX_PATH_NESTING {
        return Err("the path is too long or too deeply nested".into());
    }
    let expr =
        Expression::parse(path).map_err(|e| format!("the path '{path}' does not parse: {e}"))?;
    expr.check_locatable()
        .map_err(|e| format!("the path '{path}' is not supported: {e}"))?;
    Ok(expr)
}

/// Reads a `value` part (or a nested part): one `value[x]`, `resource`, or list of parts.
fn new_value(part: &Value) -> Result<NewValue<'_>, String> {
    let Some(obj) = part.as_object() else {
        return Err("a part must be an object".into());
    };
    let mut found = Vec::new();
    for (key, v) in obj {
        match key.as_str() {
            "resource" => found.push(NewValue::Resource(v)),
            "part" => {
                let parts = v.as_array().ok_or("'part' must be an array")?;
                let mut children = Vec::with_capacity(parts.len());
                for p in parts {
                    let name = p
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or("a nested part has no name")?;
                    children.push((name, new_value(p)?));
                }
                found.push(NewValue::Parts(children));
            }
            k => {
                if let Some(suffix) = k.strip_prefix("value") {
                    found.push(NewValue::Typed {
                        type_name: value_type(suffix)
                            .ok_or_else(|| format!("'{k}' does not name a FHIR datatype"))?,
                        json: v,
                        shadow: obj.get(&format!("_{k}")),
                    });
                }
            }
        }
    }
    let name = obj.get("name").and_then(Value::as_str).unwrap_or("value");
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "the part '{name}' has no value[x], resource or part"
        )),
        _ => Err(format!(
            "the part '{name}' has more than one of value[x], resource and part"
        )),
    }
}

/// The FHIR type a `value[x]` suffix names: `Date` → `date`, `HumanName` → `HumanName`.
fn value_type(suffix: &str) -> Option<String> {
    let mut chars = suffix.chars();
    let first = chars.next().filter(char::is_ascii_uppercase)?;
    let primitive = format!("{}{}", first.to_ascii_lowercase(), chars.as_str());
    if element_types::is_primitive(&primitive) {
        return Some(primitive);
    }
    let known = element_types::datatypes()
        .binary_search_by(|d| d.as_str().cmp(suffix))
        .is_ok();
    known.then(|| suffix.to_string())
}
