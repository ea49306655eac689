//! Lexical validation of FHIR R4 primitive values in a JSON resource.
//!
//! fhirbolt checks structure (known elements, cardinality, JSON shapes of
//! complex elements) but accepts any string for a `date`, an `id` with spaces,
//! an `instant` without timezone and so on, and its errors carry no FHIRPath
//! location. This walker fills that gap: it follows the element table of
//! [`super::element_types`] and checks every primitive against the R4 rules
//! (the `regex` extensions of the primitive StructureDefinitions plus the
//! prose of datatypes.html, e.g. "Dates SHALL be valid dates").
//!
//! Besides lexical rules it enforces the JSON-format rules for primitives
//! (`null` placeholders in arrays paired with `_name` arrays), rejects empty
//! arrays and elements without value or children (ele-1), and reports unknown
//! properties, so a single pass gives located messages for everything it sees.
//!
//! Locations are FHIRPath-like: `Patient.name[0].given[1]`; resources nested
//! in `contained`, `Bundle.entry.resource` etc. appear as
//! `Bundle.entry[2].resource.ofType(Patient).birthDate`. Content of a
//! primitive's `_name` object is located under the primitive itself
//! (`Patient.birthDate.extension[0].url`), as FHIRPath sees it.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::element_types::{self, ElementDef, Primitive, TypeDef};

/// One violation found in a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// FHIRPath-style location, e.g. `Patient.name[0].given[1]`.
    pub location: String,
    pub message: String,
}

/// Checks every primitive value of `resource` (a JSON resource with
/// `resourceType`) and returns all problems found, in document order.
pub fn check_primitives(resource: &Value) -> Vec<Problem> {
    let mut walker = Walker {
        path: Vec::new(),
        problems: Vec::new(),
    };
    walker.resource(resource);
    walker.problems
}

/// FHIR strings SHALL NOT exceed 1 MiB (1024*1024 characters).
const MAX_STRING_CHARS: usize = 1024 * 1024;

/// How much of an offending value is quoted in a message.
const QUOTE_LIMIT: usize = 80;

/// One step of the current location. Names borrow from the JSON document or
/// the static table, so descending costs no allocation; the location string is
/// only rendered when a problem is reported.
/// What owns the object being walked; decides which content rules apply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// A resource: not an Element, so ele-1 does not apply.
    Resource,
    /// A complex datatype or backbone element.
    Element,
    /// The `_name` object of a primitive; `has_value` tells whether the
    /// primitive also has a value, which satisfies ele-1 on its own.
    Primitive { has_value: bool },
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Name(&'a str),
    Index(usize),
    /// A nested resource of the given type (`.ofType(Patient)`).
    Resource(&'a str),
}

struct Walker<'a> {
    path: Vec<Seg<'a>>,
    problems: Vec<Problem>,
}

impl<'a> Walker<'a> {
    fn location(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match *seg {
                Seg::Name(n) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(n);
                }
                Seg::Index(i) => {
                    let _ = write!(s, "[{i}]");
                }
                Seg::Resource(t) if s.is_empty() => s.push_str(t),
                Seg::Resource(t) => {
                    let _ = write!(s, ".ofType({t})");
                }
            }
        }
        if s.is_empty() {
            s.push_str("Resource");
        }
        s
    }

    fn report(&mut self, message: String) {
        let location = self.location();
        self.problems.push(Problem { location, message });
    }

    fn report_at(&mut self, seg: Seg<'a>, message: String) {
        self.path.push(seg);
        self.report(message);
        self.path.pop();
    }

    /// A value in a Resource-typed position (root, `contained`,
    /// `Bundle.entry.resource`, `Parameters.parameter.resource`, ...).
    fn resource(&mut self, value: &'a Value) {
        let Value::Object(obj) = value else {
            self.report(format!(
                "expected a JSON object for a resource, found {}",
                json_kind(value)
            ));
            return;
        };
        let rt = match obj.get("resourceType") {
            Some(Value::String(rt)) => rt.as_str(),
            Some(other) => {
                self.report_at(
                    Seg::Name("resourceType"),
                    format!("resourceType must be a string, found {}", json_kind(other)),
                );
                return;
            }
            None => {
                self.report_at(Seg::Name("resourceType"), "missing resourceType".to_owned());
                return;
            }
        };
        let td = match element_types::type_def(rt) {
            Some(td) if element_types::is_resource_type(rt) => td,
            _ => {
                self.report_at(
                    Seg::Name("resourceType"),
                    format!("unknown resource type {}", quote(rt)),
                );
                return;
            }
        };
        self.path.push(Seg::Resource(rt));
        self.object(obj, td, Owner::Resource);
        self.path.pop();
    }

    /// The properties of a resource, complex datatype, backbone element or a
    /// primitive's `_name` object.
    fn object(&mut self, obj: &'a Map<String, Value>, td: &'static TypeDef, owner: Owner) {
        let is_resource = owner == Owner::Resource;
        // ele-1: an element needs a value or children other than `id`.
        let needs_children = matches!(
            owner,
            Owner::Element | Owner::Primitive { has_value: false }
        );
        if obj.is_empty() {
            self.report("empty object: omit the property instead".to_owned());
        } else if needs_children && obj.keys().all(|k| k == "id") {
            self.report("element has no value or children other than id (ele-1)".to_owned());
        }
        for (key, value) in obj {
            let key = key.as_str();
            if is_resource && key == "resourceType" {
                continue;
            }
            if let Some(base) = key.strip_prefix('_') {
                match td.element(base) {
                    Some(def) if def.primitive.is_some() => {
                        self.primitive_extras(obj, base, value, def)
                    }
                    _ => self.unknown(td, key),
                }
                continue;
            }
            match td.element(key) {
                Some(def) => self.element(obj, key, value, def),
                None => self.unknown(td, key),
            }
        }
    }

    fn unknown(&mut self, td: &'static TypeDef, key: &'a str) {
        let message = match td.choices(key) {
            Some(names) => format!(
                "unknown element \"{key}\": choice elements need a type suffix ({})",
                names.join(", ")
            ),
            None => format!("unknown element \"{key}\" in {}", td.name()),
        };
        self.report_at(Seg::Name(key), message);
    }

    fn element(
        &mut self,
        parent: &'a Map<String, Value>,
        key: &'a str,
        value: &'a Value,
        def: ElementDef,
    ) {
        self.path.push(Seg::Name(key));
        match (def.is_array, value) {
            (true, Value::Array(items)) => {
                if items.is_empty() {
                    self.report("empty array: omit the property instead".to_owned());
                }
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    match def.primitive {
                        Some(_) if item.is_null() => self.null_in_array(parent, key, i),
                        Some(p) => self.primitive(p, item),
                        None => self.complex(def.type_name, item),
                    }
                    self.path.pop();
                }
            }
            (true, other) => self.report(format!(
                "expected an array of {}, found {}",
                def.type_name,
                json_kind(other)
            )),
            (false, Value::Array(_)) => self.report(format!(
                "expected a single {}, found an array",
                def.type_name
            )),
            (false, Value::Null) => self.report(
                "null is only allowed as a placeholder inside an array of primitives".to_owned(),
            ),
            (false, item) => match def.primitive {
                Some(p) => self.primitive(p, item),
                None => self.complex(def.type_name, item),
            },
        }
        self.path.pop();
    }

    /// `"given": ["a", null]` is only legal when `_given[1]` carries the
    /// id/extensions of that item. A `null` in `_given` too is reported by
    /// [`Self::primitive_extras`] so the pair yields one problem.
    fn null_in_array(&mut self, parent: &'a Map<String, Value>, key: &str, i: usize) {
        // Allocates, but only on this rare path.
        let extras = parent.get(&format!("_{key}"));
        let covered = match extras {
            Some(Value::Array(extras)) => extras.get(i).is_some(),
            _ => false,
        };
        if !covered {
            self.report(format!(
                "null value without a matching non-null _{key}[{i}] (id/extension)"
            ));
        }
    }

    /// A primitive's `_name` property: an object (or, for arrays, an array of
    /// objects and nulls aligned with the values) holding `id`/`extension`.
    fn primitive_extras(
        &mut self,
        parent: &'a Map<String, Value>,
        base: &'a str,
        value: &'a Value,
        def: ElementDef,
    ) {
        let Some(td) = element_types::type_def(def.type_name) else {
            return;
        };
        self.path.push(Seg::Name(base));
        match (def.is_array, value) {
            (true, Value::Array(extras)) => {
                let values = parent.get(base).and_then(Value::as_array);
                if let Some(values) = values {
                    if values.len() != extras.len() {
                        self.report(format!(
                            "_{base} has {} entries but {base} has {}: they must align",
                            extras.len(),
                            values.len()
                        ));
                    }
                }
                if extras.is_empty() {
                    self.report(format!("empty array _{base}: omit the property instead"));
                }
                for (i, extra) in extras.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    let has_value = values.and_then(|v| v.get(i)).is_some_and(|v| !v.is_null());
                    match extra {
                        Value::Null => {
                            if !has_value {
                                self.report(format!(
                                    "neither a value nor _{base} content (both null or missing)"
                                ));
                            }
                        }
                        Value::Object(o) => self.object(o, td, Owner::Primitive { has_value }),
                        other => self.report(format!(
                            "_{base} entries must be objects or null, found {}",
                            json_kind(other)
                        )),
                    }
                    self.path.pop();
                }
            }
            (true, other) => self.report(format!(
                "_{base} must be an array aligned with {base}, found {}",
                json_kind(other)
            )),
            (false, Value::Object(o)) => {
                let has_value = parent.get(base).is_some_and(|v| !v.is_null());
                self.object(o, td, Owner::Primitive { has_value })
            }
            (false, other) => self.report(format!(
                "_{base} must be an object, found {}",
                json_kind(other)
            )),
        }
        self.path.pop();
    }

    fn complex(&mut self, type_name: &'static str, value: &'a Value) {
        if type_name == "Resource" {
            self.resource(value);
            return;
        }
        let Value::Object(obj) = value else {
            self.report(format!(
                "expected a JSON object ({type_name}), found {}",
                json_kind(value)
            ));
            return;
        };
        // A missing type would be a defect of the generated table, which its
        // own tests cover; nothing useful can be said to the client then.
        if let Some(td) = element_types::type_def(type_name) {
            self.object(obj, td, Owner::Element);
        }
    }

    fn primitive(&mut self, p: Primitive, value: &Value) {
        if let Err(reason) = check_value(p, value) {
            let shown = match value {
                Value::String(s) => quote(s),
                Value::Number(_) | Value::Bool(_) => truncate(&value.to_string()).to_owned(),
                other => json_kind(other).to_owned(),
            };
            self.report(format!("invalid {} {shown}: {reason}", p.name()));
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(s: &str) -> &str {
    if s.len() <= QUOTE_LIMIT {
        return s;
    }
    let mut end = QUOTE_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// JSON-quotes (so control characters are visible) a value, truncated so a
/// 1 MiB string does not end up in a message.
fn quote(s: &str) -> String {
    Value::String(truncate(s).to_owned()).to_string()
}

/// The lexical check of one primitive value; `Err` holds the reason.
pub fn check_value(p: Primitive, value: &Value) -> Result<(), &'static str> {
    match p {
        Primitive::Boolean => match value {
            Value::Bool(_) => Ok(()),
            _ => Err("must be a JSON boolean (true or false)"),
        },
        Primitive::Integer | Primitive::PositiveInt | Primitive::UnsignedInt => {
            let Value::Number(n) = value else {
                return Err("must be a JSON number");
            };
            // `as_i64` is None for fractions and exponents (also with
            // arbitrary_precision, where it parses the original text), which
            // the integer grammar `-?([0]|([1-9][0-9]*))` rejects too.
            let Some(i) = n.as_i64() else {
                return Err("must be a whole number without fraction or exponent");
            };
            let min = match p {
                Primitive::PositiveInt => 1,
                Primitive::UnsignedInt => 0,
                _ => i64::from(i32::MIN),
            };
            if i < min || i > i64::from(i32::MAX) {
                return Err(match p {
                    Primitive::PositiveInt => "must be in 1..2147483647",
                    Primitive::UnsignedInt => "must be in 0..2147483647",
                    _ => "must be in -2147483648..2147483647",
                });
            }
            Ok(())
        }
        // Every JSON number matches the decimal grammar
        // `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
        Primitive::Decimal => match value {
            Value::Number(_) => Ok(()),
            _ => Err("must be a JSON number"),
        },
        _ => match value {
            Value::String(s) => check_str(p, s),
            _ => Err("must be a JSON string"),
        },
    }
}

/// The lexical check of a string-valued primitive.
pub fn check_str(p: Primitive, s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty string: omit the element instead");
    }
    match p {
        Primitive::Id => check_id(s),
        Primitive::Oid => check_oid(s),
        Primitive::Uuid => check_uuid(s),
        Primitive::Date => check_date(s),
        Primitive::DateTime => check_date_time(s),
        Primitive::Instant => check_instant(s),
        Primitive::Time => check_time(s),
        Primitive::Base64Binary => check_base64(s),
        _ => {
            check_chars(s)?;
            match p {
                Primitive::Code => check_length(s).and_then(|()| check_code(s)),
                Primitive::String | Primitive::Markdown => check_length(s),
                Primitive::Uri | Primitive::Url | Primitive::Canonical => {
                    if s.bytes().any(is_space) {
                        Err("must not contain whitespace")
                    } else {
                        Ok(())
                    }
                }
                _ => Ok(()),
            }
        }
    }
}

/// Whitespace as `\s` in the definitions' regexes (Java/XML Schema: ASCII).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

/// Rules shared by all free-text string types. The string regex
/// `[ \r\n\t\S]+` excludes vertical tab and form feed; other C0 controls are
/// a SHOULD NOT in datatypes.html, rejected here as well because they cannot
/// be represented in the XML format at all.
pub fn check_chars(s: &str) -> Result<(), &'static str> {
    if s.bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
    {
        return Err("contains a control character (only tab, CR and LF are allowed)");
    }
    Ok(())
}

/// The 1 MiB limit is `string.value.maxLength`, inherited by the string
/// specialisations markdown and code (id has its own, smaller bound). xhtml
/// and uri are not strings: official examples carry narratives over 1 MiB.
fn check_length(s: &str) -> Result<(), &'static str> {
    // Byte length bounds the character count, so counting is rarely needed.
    if s.len() > MAX_STRING_CHARS && s.chars().count() > MAX_STRING_CHARS {
        return Err("longer than 1048576 characters");
    }
    Ok(())
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or repeated whitespace.
fn check_code(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if is_space(b[0]) || is_space(b[b.len() - 1]) {
        return Err("must not start or end with whitespace");
    }
    if b.windows(2).any(|w| is_space(w[0]) && is_space(w[1])) {
        return Err("must not contain consecutive whitespace");
    }
    Ok(())
}

/// `[A-Za-z0-9\-\.]{1,64}`
fn check_id(s: &str) -> Result<(), &'static str> {
    if s.len() > 64 {
        return Err("longer than 64 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("only A-Z, a-z, 0-9, '-' and '.' are allowed");
    }
    Ok(())
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
fn check_oid(s: &str) -> Result<(), &'static str> {
    const ERR: &str = "must be urn:oid: followed by a dotted OID starting with 0, 1 or 2";
    let rest = s.strip_prefix("urn:oid:").ok_or(ERR)?.as_bytes();
    if rest.len() < 3 || !matches!(rest[0], b'0'..=b'2') {
        return Err(ERR);
    }
    // After the first arc: one or more `.arc`, arcs without leading zeros.
    for arc in rest[1..].split(|&b| b == b'.').skip(1) {
        let ok = !arc.is_empty()
            && arc.iter().all(u8::is_ascii_digit)
            && (arc.len() == 1 || arc[0] != b'0');
        if !ok {
            return Err(ERR);
        }
    }
    if rest[1] != b'.' {
        return Err(ERR);
    }
    Ok(())
}

/// `urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
fn check_uuid(s: &str) -> Result<(), &'static str> {
    const ERR: &str = "must be urn:uuid: followed by a lower-case 8-4-4-4-12 hex UUID";
    let rest = s.strip_prefix("urn:uuid:").ok_or(ERR)?.as_bytes();
    if rest.len() != 36 {
        return Err(ERR);
    }
    for (i, &b) in rest.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        };
        if !ok {
            return Err(ERR);
        }
    }
    Ok(())
}

/// Base64 as the regex `(\s*([0-9a-zA-Z\+/=]){4}\s*)+` intends it, but
/// stricter on padding (only at the end, at most two) and more tolerant of
/// whitespace placement (anywhere, as MIME line breaks may fall).
fn check_base64(s: &str) -> Result<(), &'static str> {
    let mut count = 0usize;
    let mut padding = 0usize;
    for b in s.bytes() {
        if is_space(b) {
            continue;
        }
        if b == b'=' {
            padding += 1;
        } else if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
            if padding > 0 {
                return Err("'=' padding may only appear at the end");
            }
        } else {
            return Err("contains a character outside the base64 alphabet");
        }
        count += 1;
    }
    if count == 0 {
        return Err("no base64 content");
    }
    if !count.is_multiple_of(4) {
        return Err("length (without whitespace) is not a multiple of 4");
    }
    if padding > 2 {
        return Err("more than two '=' padding characters");
    }
    Ok(())
}

/// A forward-only reader over the ASCII bytes of a date/time value.
struct Cursor<'s> {
    b: &'s [u8],
    i: usize,
}

impl Cursor<'_> {
    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let d = self.b.get(self.i..self.i + n)?;
        let mut v = 0;
        for &c in d {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn at_end(&self) -> bool {
        self.i == self.b.len()
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY(-MM(-DD)?)?`; returns whether the day was present.
fn parse_date(c: &mut Cursor) -> Result<bool, &'static str> {
    let year = c.digits(4).ok_or("expected a four-digit year (YYYY)")?;
    if year == 0 {
        return Err("year 0000 is not allowed");
    }
    if !c.eat(b'-') {
        return Ok(false);
    }
    let month = c.digits(2).ok_or("expected a two-digit month (YYYY-MM)")?;
    if !(1..=12).contains(&month) {
        return Err("month must be 01-12");
    }
    if !c.eat(b'-') {
        return Ok(false);
    }
    let day = c.digits(2).ok_or("expected a two-digit day (YYYY-MM-DD)")?;
    if day == 0 || day > days_in_month(year, month) {
        return Err("day does not exist in that month");
    }
    Ok(true)
}

/// `hh:mm:ss(.f+)?` with hour 00-23 and second 00-60 (leap second).
fn parse_time(c: &mut Cursor) -> Result<(), &'static str> {
    const SHAPE: &str = "time must be hh:mm:ss with optional fraction";
    let hour = c.digits(2).ok_or(SHAPE)?;
    if !c.eat(b':') {
        return Err(SHAPE);
    }
    let minute = c.digits(2).ok_or(SHAPE)?;
    if !c.eat(b':') {
        return Err(SHAPE);
    }
    let second = c.digits(2).ok_or(SHAPE)?;
    if hour > 23 {
        return Err("hour must be 00-23 (24:00 is not allowed)");
    }
    if minute > 59 {
        return Err("minute must be 00-59");
    }
    if second > 60 {
        return Err("second must be 00-60");
    }
    if c.eat(b'.') {
        let start = c.i;
        while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
        }
        if c.i == start {
            return Err("expected digits after the decimal point");
        }
    }
    Ok(())
}

/// `Z|(+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)`
fn parse_zone(c: &mut Cursor) -> Result<(), &'static str> {
    const SHAPE: &str = "a time zone (Z or +hh:mm/-hh:mm) is required";
    if c.eat(b'Z') {
        return Ok(());
    }
    if !(c.eat(b'+') || c.eat(b'-')) {
        return Err(SHAPE);
    }
    let hour = c.digits(2).ok_or(SHAPE)?;
    if !c.eat(b':') {
        return Err(SHAPE);
    }
    let minute = c.digits(2).ok_or(SHAPE)?;
    if minute > 59 || hour > 14 || (hour == 14 && minute != 0) {
        return Err("time zone offset must be between -14:00 and +14:00");
    }
    Ok(())
}

fn check_date(s: &str) -> Result<(), &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    parse_date(&mut c)?;
    if !c.at_end() {
        return Err("must be YYYY, YYYY-MM or YYYY-MM-DD");
    }
    Ok(())
}

fn check_date_time(s: &str) -> Result<(), &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let full = parse_date(&mut c)?;
    if c.at_end() {
        return Ok(());
    }
    if !full || !c.eat(b'T') {
        return Err("must be YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz");
    }
    parse_time(&mut c)?;
    parse_zone(&mut c)?;
    if !c.at_end() {
        return Err("unexpected characters after the time zone");
    }
    Ok(())
}

fn check_instant(s: &str) -> Result<(), &'static str> {
    const SHAPE: &str = "must be YYYY-MM-DDThh:mm:ss(.sss)+zz:zz (or Z)";
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    if !parse_date(&mut c)? || !c.eat(b'T') {
        return Err(SHAPE);
    }
    parse_time(&mut c)?;
    parse_zone(&mut c)?;
    if !c.at_end() {
        return Err("unexpected characters after the time zone");
    }
    Ok(())
}

fn check_time(s: &str) -> Result<(), &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    parse_time(&mut c)?;
    if !c.at_end() {
        return Err("must be hh:mm:ss(.sss) without time zone");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(p: Primitive, v: Value) {
        assert_eq!(
            check_value(p, &v),
            Ok(()),
            "{} {v} should be valid",
            p.name()
        );
    }

    fn bad(p: Primitive, v: Value) {
        assert!(
            check_value(p, &v).is_err(),
            "{} {v} should be invalid",
            p.name()
        );
    }

    /// (location, message) pairs, sorted: document order is only kept when
    /// serde_json's `preserve_order` is on, and tests should not depend on it.
    fn problems(resource: &Value) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = check_primitives(resource)
            .into_iter()
            .map(|p| (p.location, p.message))
            .collect();
        v.sort();
        v
    }

    fn locations(resource: Value) -> Vec<String> {
        problems(&resource).into_iter().map(|p| p.0).collect()
    }

    fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
        let mut v = items.to_vec();
        v.sort();
        v
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        sorted(items)
            .into_iter()
            .map(|(l, m)| (l.to_owned(), m.to_owned()))
            .collect()
    }

    #[test]
    fn boolean() {
        ok(Primitive::Boolean, json!(true));
        ok(Primitive::Boolean, json!(false));
        bad(Primitive::Boolean, json!("true"));
        bad(Primitive::Boolean, json!(1));
    }

    #[test]
    fn integers() {
        use Primitive::*;
        let parse = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
        ok(Integer, parse("0"));
        ok(Integer, parse("-2147483648"));
        ok(Integer, parse("2147483647"));
        bad(Integer, parse("2147483648"));
        bad(Integer, parse("-2147483649"));
        bad(Integer, parse("1.0"));
        bad(Integer, parse("1e3"));
        bad(Integer, parse("99999999999999999999999"));
        bad(Integer, json!("1"));
        ok(PositiveInt, parse("1"));
        bad(PositiveInt, parse("0"));
        bad(PositiveInt, parse("-5"));
        ok(UnsignedInt, parse("0"));
        ok(UnsignedInt, parse("2147483647"));
        bad(UnsignedInt, parse("-1"));
        bad(UnsignedInt, parse("2147483648"));
    }

    #[test]
    fn decimal() {
        let parse = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
        ok(Primitive::Decimal, parse("0"));
        ok(Primitive::Decimal, parse("-1.50"));
        ok(Primitive::Decimal, parse("1.0e-10"));
        ok(
            Primitive::Decimal,
            parse("123456789012345678901234567890.000000000000000000001"),
        );
        bad(Primitive::Decimal, json!("1.5"));
        bad(Primitive::Decimal, json!(true));
    }

    #[test]
    fn strings() {
        use Primitive::*;
        for p in [String, Markdown] {
            ok(p, json!("hello"));
            ok(p, json!(" padded\ttext\r\n"));
            ok(p, json!("   "));
            ok(p, json!("ünïcødé ✓"));
            bad(p, json!(""));
            bad(p, json!("a\u{0}b"));
            bad(p, json!("form\u{c}feed"));
            bad(p, json!("vertical\u{b}tab"));
            bad(p, json!(5));
        }
        ok(String, json!("x".repeat(MAX_STRING_CHARS)));
        bad(String, json!("x".repeat(MAX_STRING_CHARS + 1)));
        // 1 MiB of two-byte characters is more bytes but still in the limit.
        ok(String, json!("é".repeat(MAX_STRING_CHARS)));
        bad(Markdown, json!("x".repeat(MAX_STRING_CHARS + 1)));
        bad(Code, json!("x".repeat(MAX_STRING_CHARS + 1)));
        ok(
            Xhtml,
            json!(format!("<div>{}</div>", "x".repeat(MAX_STRING_CHARS))),
        );
        ok(
            Xhtml,
            json!("<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"),
        );
        bad(Xhtml, json!(""));
    }

    #[test]
    fn code() {
        ok(Primitive::Code, json!("final"));
        ok(Primitive::Code, json!("two words"));
        ok(Primitive::Code, json!("a\tb"));
        bad(Primitive::Code, json!(""));
        bad(Primitive::Code, json!(" final"));
        bad(Primitive::Code, json!("final "));
        bad(Primitive::Code, json!("two  spaces"));
        bad(Primitive::Code, json!("line\n\nbreaks"));
        bad(Primitive::Code, json!(1));
    }

    #[test]
    fn id() {
        ok(Primitive::Id, json!("example"));
        ok(Primitive::Id, json!("a-B.9"));
        ok(Primitive::Id, json!("x".repeat(64)));
        bad(Primitive::Id, json!("x".repeat(65)));
        bad(Primitive::Id, json!("has space"));
        bad(Primitive::Id, json!("under_score"));
        bad(Primitive::Id, json!("slash/"));
        bad(Primitive::Id, json!(""));
        bad(Primitive::Id, json!(12));
    }

    #[test]
    fn uris() {
        use Primitive::*;
        for p in [Uri, Url, Canonical] {
            ok(p, json!("http://example.org/fhir/Patient/1"));
            ok(p, json!("urn:oid:1.2.3"));
            ok(p, json!("http://x.org/ValueSet/a|1.0"));
            bad(p, json!(""));
            bad(p, json!("http://example.org/a b"));
            bad(p, json!("http://example.org/\n"));
        }
    }

    #[test]
    fn oid() {
        ok(Primitive::Oid, json!("urn:oid:1.2.3.4"));
        ok(Primitive::Oid, json!("urn:oid:2.16.840.1.113883"));
        ok(Primitive::Oid, json!("urn:oid:0.0"));
        bad(Primitive::Oid, json!("urn:oid:1"));
        bad(Primitive::Oid, json!("urn:oid:3.1"));
        bad(Primitive::Oid, json!("urn:oid:1.02"));
        bad(Primitive::Oid, json!("urn:oid:1..2"));
        bad(Primitive::Oid, json!("urn:oid:1.2."));
        bad(Primitive::Oid, json!("urn:oid:12.3"));
        bad(Primitive::Oid, json!("1.2.3"));
        bad(Primitive::Oid, json!("urn:oid:1.2a"));
    }

    #[test]
    fn uuid() {
        ok(
            Primitive::Uuid,
            json!("urn:uuid:c757873d-ec9a-4326-a141-556f43239520"),
        );
        bad(
            Primitive::Uuid,
            json!("urn:uuid:C757873D-EC9A-4326-A141-556F43239520"),
        );
        bad(
            Primitive::Uuid,
            json!("c757873d-ec9a-4326-a141-556f43239520"),
        );
        bad(
            Primitive::Uuid,
            json!("urn:uuid:c757873d-ec9a-4326-a141-556f4323952"),
        );
        bad(
            Primitive::Uuid,
            json!("urn:uuid:c757873dxec9a-4326-a141-556f43239520"),
        );
    }

    #[test]
    fn date() {
        for v in [
            "2018",
            "1970-01",
            "1970-12-31",
            "2000-02-29",
            "2024-02-29",
            "0001",
        ] {
            ok(Primitive::Date, json!(v));
        }
        for v in [
            "0000",
            "1970-13-45",
            "1970-00",
            "1970-1-01",
            "1970-01-00",
            "1970-04-31",
            "1900-02-29",
            "2023-02-29",
            "18",
            "19700",
            "1970-01-01T00:00:00Z",
            "1970/01/01",
            "1970-01-01 ",
            "",
        ] {
            bad(Primitive::Date, json!(v));
        }
    }

    #[test]
    fn date_time() {
        for v in [
            "2018",
            "1973-06",
            "1905-08-23",
            "2015-02-07T13:28:17-05:00",
            "2017-01-01T00:00:00.000Z",
            "2017-01-01T00:00:00.123456789+14:00",
            "2017-01-01T23:59:60Z",
            "2017-01-01T12:00:00-13:59",
        ] {
            ok(Primitive::DateTime, json!(v));
        }
        for v in [
            "2015-02-07T13:28:17",
            "2015-02-07T13:28Z",
            "2015-02-07T24:00:00Z",
            "2015-02-07T13:60:00Z",
            "2015-02-07T13:28:61Z",
            "2015-02-07T13:28:17.Z",
            "2015-02-07T13:28:17+14:30",
            "2015-02-07T13:28:17+15:00",
            "2015-02-07T13:28:17+0500",
            "2015-02-07T13:28:17z",
            "2015-02T13:28:17Z",
            "2015-02-30",
            "2015-02-07 13:28:17Z",
            "2015-02-07T13:28:17ZZ",
            "2015-02-07T",
        ] {
            bad(Primitive::DateTime, json!(v));
        }
    }

    #[test]
    fn instant() {
        ok(Primitive::Instant, json!("2015-02-07T13:28:17.239+02:00"));
        ok(Primitive::Instant, json!("2017-01-01T00:00:00Z"));
        bad(Primitive::Instant, json!("2015-02-07T13:28:17.239"));
        bad(Primitive::Instant, json!("2015-02-07"));
        bad(Primitive::Instant, json!("2015"));
        bad(Primitive::Instant, json!("2015-02-07T13:28Z"));
        bad(Primitive::Instant, json!("2015-02-29T13:28:00Z"));
    }

    #[test]
    fn time() {
        ok(Primitive::Time, json!("00:00:00"));
        ok(Primitive::Time, json!("23:59:59.999"));
        bad(Primitive::Time, json!("24:00:00"));
        bad(Primitive::Time, json!("12:00"));
        bad(Primitive::Time, json!("12:00:00Z"));
        bad(Primitive::Time, json!("1:00:00"));
        bad(Primitive::Time, json!("12:00:00."));
    }

    #[test]
    fn base64() {
        ok(Primitive::Base64Binary, json!("QUJD"));
        ok(Primitive::Base64Binary, json!("QUI="));
        ok(Primitive::Base64Binary, json!("QQ=="));
        ok(Primitive::Base64Binary, json!("QUJD\nREVG\r\n"));
        ok(Primitive::Base64Binary, json!(" QU JD "));
        bad(Primitive::Base64Binary, json!(""));
        bad(Primitive::Base64Binary, json!("   "));
        bad(Primitive::Base64Binary, json!("QUJ"));
        bad(Primitive::Base64Binary, json!("Q==="));
        bad(Primitive::Base64Binary, json!("QU=D"));
        bad(Primitive::Base64Binary, json!("QUJD!"));
        bad(Primitive::Base64Binary, json!("QUJD-_"));
    }

    #[test]
    fn valid_patient_has_no_problems() {
        let patient = json!({
            "resourceType": "Patient",
            "id": "example",
            "meta": {"lastUpdated": "2020-01-01T00:00:00Z"},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "active": true,
            "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
            "gender": "male",
            "birthDate": "1974-12-25",
            "_birthDate": {"extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1974-12-25T14:35:45-05:00"
            }]},
            "deceasedBoolean": false,
            "multipleBirthInteger": 2,
            "contact": [{"gender": "female", "period": {"start": "2012"}}]
        });
        assert_eq!(check_primitives(&patient), vec![]);
    }

    #[test]
    fn messages_and_nested_locations() {
        let patient = json!({
            "resourceType": "Patient",
            "id": "bad id",
            "birthDate": "1970-13-45",
            "name": [
                {"given": ["Peter"]},
                {"given": ["Jim", ""], "period": {"start": "2020-01-01T10:00"}}
            ],
            "contact": [{"telecom": [{"rank": 0}]}]
        });
        assert_eq!(
            problems(&patient),
            pairs(&[
                (
                    "Patient.id",
                    "invalid id \"bad id\": only A-Z, a-z, 0-9, '-' and '.' are allowed"
                ),
                (
                    "Patient.birthDate",
                    "invalid date \"1970-13-45\": month must be 01-12"
                ),
                (
                    "Patient.name[1].given[1]",
                    "invalid string \"\": empty string: omit the element instead"
                ),
                (
                    "Patient.name[1].period.start",
                    "invalid dateTime \"2020-01-01T10:00\": time must be hh:mm:ss with optional fraction"
                ),
                (
                    "Patient.contact[0].telecom[0].rank",
                    "invalid positiveInt 0: must be in 1..2147483647"
                ),
            ])
        );
    }

    #[test]
    fn choice_types() {
        let obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": 1.5, "unit": "mg", "system": "http://unitsofmeasure.org"},
            "effectiveDateTime": "2020-02-30",
            "component": [
                {"code": {"text": "a"}, "valueInteger": 2147483648_i64},
                {"code": {"text": "b"}, "valueTime": "25:00:00"},
                {"code": {"text": "c"}, "value": "untyped"}
            ]
        });
        let got = problems(&obs);
        let locs: Vec<&str> = got.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            locs,
            [
                "Observation.component[0].valueInteger",
                "Observation.component[1].valueTime",
                "Observation.component[2].value",
                "Observation.effectiveDateTime",
            ]
        );
        assert!(got[2].1.contains("valueQuantity"));
    }

    #[test]
    fn contained_and_bundled_resources() {
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
                 "resource": {"resourceType": "Patient", "birthDate": "1970"}},
                {"resource": {
                    "resourceType": "Patient",
                    "birthDate": "1970-02-30",
                    "contained": [{"resourceType": "Organization", "id": "o 1"}]
                }},
                {"resource": {"resourceType": "Nope"}},
                {"resource": {"birthDate": "1970"}},
                {"resource": {"resourceType": "Parameters", "parameter": [
                    {"name": "p", "resource": {"resourceType": "Basic", "created": "x"}}
                ]}}
            ]
        });
        assert_eq!(
            locations(bundle),
            [
                "Bundle.entry[1].resource.ofType(Patient).birthDate",
                "Bundle.entry[1].resource.ofType(Patient).contained[0].ofType(Organization).id",
                "Bundle.entry[2].resource.resourceType",
                "Bundle.entry[3].resource.resourceType",
                "Bundle.entry[4].resource.ofType(Parameters).parameter[0].resource.ofType(Basic).created",
            ]
        );
    }

    #[test]
    fn root_errors() {
        assert_eq!(locations(json!({"id": "x"})), ["resourceType"]);
        assert_eq!(
            locations(json!({"resourceType": "Element"})),
            ["resourceType"]
        );
        assert_eq!(locations(json!({"resourceType": 3})), ["resourceType"]);
        assert_eq!(locations(json!([1])), ["Resource"]);
        assert_eq!(
            locations(json!({"resourceType": "Basic"})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn primitive_extensions_and_nulls() {
        let ext = json!({"extension": [{"url": "http://x.org/e", "valueString": "x"}]});
        // Valid: a null value paired with an extension, an extension-only
        // single primitive, and an id-only companion of a present value.
        let patient = json!({
            "resourceType": "Patient",
            "name": [{"given": ["a", null], "_given": [null, ext.clone()]}],
            "_gender": ext.clone(),
            "birthDate": "1970",
            "_birthDate": {"id": "b1"}
        });
        assert_eq!(check_primitives(&patient), vec![]);

        let patient = json!({
            "resourceType": "Patient",
            "name": [
                {"given": ["a", null]},
                {"given": [null, "b"], "_given": [null, ext.clone()]},
                {"given": ["a"], "_given": [ext.clone(), ext.clone()]},
                {"_given": [null]}
            ],
            "birthDate": null,
            "_active": {"extension": [{"url": "bad url", "valueString": ""}]},
            "_gender": "male",
            "_name": {"id": "x"}
        });
        let got = problems(&patient);
        let expected = [
            ("Patient._name", "unknown element"),
            ("Patient.active.extension[0].url", "invalid uri"),
            ("Patient.active.extension[0].valueString", "empty string"),
            ("Patient.birthDate", "null is only allowed"),
            ("Patient.gender", "_gender must be an object"),
            ("Patient.name[0].given[1]", "_given[1]"),
            ("Patient.name[1].given[0]", "both null"),
            ("Patient.name[2].given", "must align"),
            ("Patient.name[3].given[0]", "both null"),
        ];
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for ((loc, msg), (want_loc, want_msg)) in got.iter().zip(expected) {
            assert_eq!(loc, want_loc);
            assert!(msg.contains(want_msg), "{loc}: {msg}");
        }
    }

    #[test]
    fn primitive_companion_needs_content() {
        // Without a value, an id alone does not make an element (ele-1); an
        // empty companion object is never allowed.
        let patient = json!({
            "resourceType": "Patient",
            "_birthDate": {"id": "b1"},
            "gender": "male",
            "_gender": {},
            "name": [{"given": [null], "_given": [{"id": "g"}]}]
        });
        assert_eq!(
            problems(&patient),
            pairs(&[
                (
                    "Patient.birthDate",
                    "element has no value or children other than id (ele-1)"
                ),
                ("Patient.gender", "empty object: omit the property instead"),
                (
                    "Patient.name[0].given[0]",
                    "element has no value or children other than id (ele-1)"
                ),
            ])
        );
    }

    #[test]
    fn structural_json_rules() {
        let patient = json!({
            "resourceType": "Patient",
            "name": [],
            "identifier": [{"id": "only-id"}],
            "maritalStatus": {},
            "birthDate": ["1970"],
            "telecom": {"value": "x"},
            "contact": [{"name": "not an object"}],
            "unknownThing": 1,
            "resourceType2": "x"
        });
        assert_eq!(
            locations(patient),
            sorted(&[
                "Patient.name",
                "Patient.identifier[0]",
                "Patient.maritalStatus",
                "Patient.birthDate",
                "Patient.telecom",
                "Patient.contact[0].name",
                "Patient.unknownThing",
                "Patient.resourceType2",
            ])
        );
    }

    /// Runs over the official R4 examples (hl7.fhir.r4.examples 4.0.1):
    /// `FHIR_R4_EXAMPLES=/path/to/package cargo test -- --ignored`.
    #[test]
    #[ignore = "needs the hl7.fhir.r4.examples package on disk"]
    fn official_examples_are_clean() {
        // Genuinely invalid examples: (file, location, message prefix).
        const KNOWN_INVALID: &[(&str, &str, &str)] = &[(
            // 67 characters; ids are limited to 64.
            "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
            "SearchParameter.id",
            "invalid id",
        )];
        let dir = std::env::var("FHIR_R4_EXAMPLES")
            .unwrap_or_else(|_| "/work/corpora/npm/examples/package".to_owned());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: {dir} not found");
            return;
        };
        let mut checked = 0;
        let mut unexpected = Vec::new();
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".json") || name == "package.json" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let resource: Value = serde_json::from_str(&text).unwrap();
            checked += 1;
            for p in check_primitives(&resource) {
                let known = KNOWN_INVALID.iter().any(|(f, loc, msg)| {
                    *f == name && *loc == p.location && p.message.starts_with(msg)
                });
                if !known {
                    unexpected.push(format!("{name}: {}: {}", p.location, p.message));
                }
            }
        }
        assert!(checked > 5000, "only {checked} examples found in {dir}");
        assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    }

    #[test]
    fn long_values_are_truncated_in_messages() {
        let long = "x ".repeat(200);
        let problems = check_primitives(&json!({"resourceType": "Patient", "id": long}));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.len() < 200, "{}", problems[0].message);
    }
}
