//! One search value (one item of a comma list) → one [`Cond`], normalised with
//! `search::values` exactly as index entries are.

use super::escape::{split_unescaped, unescape};
use super::problem::Problem;
use super::target::{Modifier, ParamRef};
use super::{Cond, Prefix, StringMode, SystemMatch, UriMode};
use crate::fhir::element_types;
use crate::fhir::primitives;
use crate::fhir::search::geo;
use crate::fhir::search::params::ParamType;
use crate::fhir::search::text;
use crate::fhir::search::values;

/// The longest `:contains` value (UTF-8 bytes, normalised). MongoDB answers `:contains` with
/// a regular expression, in which each special character is escaped with a backslash, so a
/// value of this size is at most 1,000 bytes of pattern: the most SecantusDB accepts (it
/// refuses longer patterns as unsupported). Both stores keep the same limit so that a search
/// means the same on either.
pub const MAX_CONTAINS_BYTES: usize = 500;

/// `raw` is still escaped; `base_url` decides which absolute references are local.
pub fn cond(
    param: &ParamRef,
    modifier: &Modifier,
    raw: &str,
    base_url: &str,
) -> Result<Cond, Problem> {
    let name = param.display.as_str();
    // No stored string holds one (writes refuse them), and a NUL cannot travel in a MongoDB
    // regular expression. Checked on the raw text: unescaping only drops backslashes.
    if let Err(e) = primitives::check_chars(raw) {
        return Err(Problem::Invalid(format!("Invalid value for '{name}': {e}")));
    }
    if *modifier == Modifier::Missing {
        let missing = match unescape(raw).as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(Problem::Invalid(format!(
                    "Invalid value '{other}' for '{name}:missing' (expected true or false)"
                )))
            }
        };
        return Ok(Cond::Missing {
            param: param.code.clone(),
            kind: param.kind,
            missing,
        });
    }
    match param.code.as_str() {
        "_id" => {
            let id = unescape(raw);
            if !is_id(&id) {
                return Err(Problem::Invalid(format!("Invalid id '{id}' for '_id'")));
            }
            return Ok(Cond::Id(vec![id]));
        }
        "_lastUpdated" => {
            let (prefix, low, high) = date(name, raw)?;
            return Ok(Cond::LastUpdated { prefix, low, high });
        }
        _ => {}
    }
    let code = param.code.clone();
    Ok(match param.kind {
        ParamType::String if text::Source::of(&code).is_some() => {
            // A top-level text search has its own syntax (`request`); here it ends a chain or
            // `_has`, whose one criterion per value is one word.
            if *modifier != Modifier::None {
                return Err(Problem::Invalid(format!(
                    "'{name}' takes no modifier but ':missing'"
                )));
            }
            Cond::String {
                param: code,
                mode: StringMode::StartsWith,
                value: text::single_word(&unescape(raw))
                    .map_err(|e| Problem::Invalid(format!("Invalid value for '{name}': {e}")))?,
            }
        }
        ParamType::String => {
            let text = unescape(raw);
            let (mode, value) = match modifier {
                Modifier::Exact => (StringMode::Exact, text),
                Modifier::Equals => (StringMode::Equals, values::normalize_string(&text)),
                Modifier::Contains => {
                    let value = values::normalize_string(&text);
                    if value.len() > MAX_CONTAINS_BYTES {
                        return Err(Problem::Invalid(format!(
                            "The value of '{name}:contains' is {} bytes long; at most \
                             {MAX_CONTAINS_BYTES} are supported",
                            value.len()
                        )));
                    }
                    (StringMode::Contains, value)
                }
                _ => (StringMode::StartsWith, values::normalize_string(&text)),
            };
            Cond::String {
                param: code,
                mode,
                value,
            }
        }
        ParamType::Token => match modifier {
            Modifier::Text => Cond::TokenText {
                param: code,
                text: values::normalize_string(&unescape(raw)),
            },
            Modifier::OfType => of_type(param, raw)?,
            _ => {
                let plain = matches!(modifier, Modifier::None | Modifier::Not);
                if plain && param.system_less && split_unescaped(raw, '|').len() > 1 {
                    return Err(Problem::Invalid(format!(
                        "'{name}' searches ContactPoint, boolean or uri values, which have no \
                         system: only the [parameter]=[code] form is allowed, without '|' \
                         (write a '|' that is part of the value as '\\|')"
                    )));
                }
                let (system, code_value) = token(name, raw)?;
                Cond::Token {
                    param: code,
                    system,
                    code: code_value,
                }
            }
        },
        ParamType::Reference => match modifier {
            Modifier::Identifier => {
                let (system, code_value) = token(name, raw)?;
                Cond::Token {
                    param: format!("{code}:identifier"),
                    system,
                    code: code_value,
                }
            }
            Modifier::Type(t) => reference(param, Some(t), raw, base_url)?,
            _ => reference(param, None, raw, base_url)?,
        },
        ParamType::Date => {
            let (prefix, low, high) = date(name, raw)?;
            Cond::Date {
                param: code,
                prefix,
                low,
                high,
            }
        }
        ParamType::Number => {
            let (prefix, value, low, high) = number(name, "number", raw)?;
            Cond::Number {
                param: code,
                prefix,
                value,
                low,
                high,
            }
        }
        ParamType::Quantity => quantity(param, raw)?,
        ParamType::Uri => Cond::Uri {
            param: code,
            mode: match modifier {
                Modifier::Above => UriMode::Above,
                Modifier::Below => UriMode::Below,
                _ => UriMode::Equals,
            },
            value: unescape(raw),
        },
        ParamType::Composite => composite(param, raw, base_url)?,
        ParamType::Special => near(param, raw)?,
    })
}

/// `near=[latitude]|[longitude]|[distance]|[units]` (the R4 definition `Location-near`):
/// degrees, WGS84; the distance in `units` (UCUM, km when left out), or `geo`'s default
/// distance when there is none.
fn near(param: &ParamRef, raw: &str) -> Result<Cond, Problem> {
    let name = param.display.as_str();
    let text = unescape(raw);
    let invalid = |why: &str| {
        Problem::Invalid(format!(
            "Invalid value '{text}' for '{name}' (expected latitude|longitude|distance|units, \
             e.g. 42.2565|-83.6947|10|km): {why}"
        ))
    };
    let parts: Vec<String> = split_unescaped(raw, '|')
        .into_iter()
        .map(unescape)
        .collect();
    if !(2..=4).contains(&parts.len()) {
        return Err(invalid("two to four parts"));
    }
    let decimal = |s: &str, what: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && is_decimal(s))
            .ok_or_else(|| invalid(&format!("{what} is not a decimal")))
    };
    let lat = decimal(&parts[0], "the latitude")?;
    let lng = decimal(&parts[1], "the longitude")?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(invalid("the latitude is not within -90..90"));
    }
    if !(-180.0..=180.0).contains(&lng) {
        return Err(invalid("the longitude is not within -180..180"));
    }
    let distance = parts.get(2).filter(|d| !d.is_empty());
    let unit = parts.get(3).map(String::as_str).filter(|u| !u.is_empty());
    let km = match (distance, unit) {
        (None, Some(_)) => return Err(invalid("units without a distance")),
        (None, None) => geo::DEFAULT_DISTANCE_KM,
        (Some(d), unit) => {
            let d = decimal(d, "the distance")?;
            if d < 0.0 {
                return Err(invalid("the distance is negative"));
            }
            let unit = unit.unwrap_or("km");
            let Some(factor) = geo::km_per_unit(unit) else {
                return Err(invalid(&format!(
                    "unknown distance unit '{unit}' (km, m, [mi_i], [mi_us], [nmi_i], [ft_i])"
                )));
            };
            d * factor
        }
    };
    Ok(Cond::Near {
        param: param.code.clone(),
        lat,
        lng,
        km,
    })
}

/// FHIR `id`: 1–64 of `A-Z a-z 0-9 - .`.
pub(super) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn split_prefix(raw: &str) -> (Prefix, &str) {
    let prefix = match raw.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, raw),
    };
    (prefix, &raw[2..])
}

fn date(name: &str, raw: &str) -> Result<(Prefix, i64, i64), Problem> {
    let text = unescape(raw);
    let (prefix, rest) = split_prefix(&text);
    // A `+` zone offset arrives as a space when the client did not percent-encode it.
    let rest = rest.replace(' ', "+");
    let (low, high) = values::date_range(&rest)
        .ok_or_else(|| Problem::Invalid(format!("Invalid date value '{text}' for '{name}'")))?;
    Ok((prefix, low, high))
}

/// FHIR decimal syntax: `-?digits(.digits)?([eE][+-]?digits)?`.
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(mantissa),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => digits(e.strip_prefix(['+', '-']).unwrap_or(e)),
    };
    mantissa_ok && exponent_ok
}

fn number(name: &str, what: &str, raw: &str) -> Result<(Prefix, f64, f64, f64), Problem> {
    let text = unescape(raw);
    let (prefix, rest) = split_prefix(&text);
    let invalid = || Problem::Invalid(format!("Invalid {what} value '{text}' for '{name}'"));
    if !is_decimal(rest) {
        return Err(invalid());
    }
    let (value, low, high) = values::decimal_range(rest).ok_or_else(invalid)?;
    Ok((prefix, value, low, high))
}

/// `code`, `system|code`, `|code`, `system|`.
fn token(name: &str, raw: &str) -> Result<(SystemMatch, Option<String>), Problem> {
    let parts = split_unescaped(raw, '|');
    let invalid = || {
        Problem::Invalid(format!(
            "Invalid token value '{}' for '{name}'",
            unescape(raw)
        ))
    };
    match parts.as_slice() {
        [code] => Ok((SystemMatch::Any, Some(unescape(code)))),
        [system, code] => {
            let system = unescape(system);
            let code = unescape(code);
            match (system.is_empty(), code.is_empty()) {
                (true, true) => Err(invalid()),
                (true, false) => Ok((SystemMatch::None, Some(code))),
                (false, true) => Ok((SystemMatch::Is(system), None)),
                (false, false) => Ok((SystemMatch::Is(system), Some(code))),
            }
        }
        _ => Err(invalid()),
    }
}

/// `identifier:of-type=system|code|value`: the index holds these as `{code}:of-type` tokens
/// with the type's system and `type-code|value` as code.
fn of_type(param: &ParamRef, raw: &str) -> Result<Cond, Problem> {
    let parts: Vec<String> = split_unescaped(raw, '|')
        .into_iter()
        .map(unescape)
        .collect();
    match parts.as_slice() {
        [system, code, value] if !system.is_empty() && !code.is_empty() && !value.is_empty() => {
            Ok(Cond::Token {
                param: format!("{}:of-type", param.code),
                system: SystemMatch::Is(system.clone()),
                code: Some(format!("{code}|{value}")),
            })
        }
        _ => Err(Problem::Invalid(format!(
            "Invalid value '{}' for '{}:of-type' (expected system|code|value)",
            unescape(raw),
            param.display
        ))),
    }
}

fn quantity(param: &ParamRef, raw: &str) -> Result<Cond, Problem> {
    let name = param.display.as_str();
    let parts = split_unescaped(raw, '|');
    let (number_part, system, code) = match parts.as_slice() {
        [n] => (*n, None, None),
        [n, s, c] => {
            let nonempty = |x: &str| Some(unescape(x)).filter(|v| !v.is_empty());
            (*n, nonempty(s), nonempty(c))
        }
        _ => {
            return Err(Problem::Invalid(format!(
                "Invalid quantity value '{}' for '{name}' (expected [prefix]value[|system|code])",
                unescape(raw)
            )))
        }
    };
    let (prefix, value, low, high) = number(name, "quantity", number_part)?;
    Ok(Cond::Quantity {
        param: param.code.clone(),
        prefix,
        value,
        low,
        high,
        system,
        code,
    })
}

/// `id`, `Type/id`, `Type/id/_history/n`, an absolute URL (local when under `base_url`), or a
/// canonical `url|version`.
fn reference(
    param: &ParamRef,
    type_modifier: Option<&String>,
    raw: &str,
    base_url: &str,
) -> Result<Cond, Problem> {
    let name = param.display.as_str();
    let parts = split_unescaped(raw, '|');
    let invalid = || {
        Problem::Invalid(format!(
            "Invalid reference value '{}' for '{name}'",
            unescape(raw)
        ))
    };
    let (text, version) = match parts.as_slice() {
        [t] => (unescape(t), None),
        [t, v] => (unescape(t), Some(unescape(v)).filter(|v| !v.is_empty())),
        _ => return Err(invalid()),
    };
    let base = base_url.trim_end_matches('/');
    let local = if text.contains("://") || text.starts_with("urn:") {
        let rest = (!base.is_empty())
            .then(|| text.strip_prefix(base)?.strip_prefix('/'))
            .flatten();
        match rest.and_then(relative) {
            Some(found) => Some(found),
            None => {
                return Ok(Cond::Reference {
                    param: param.code.clone(),
                    target_type: None,
                    id: None,
                    url: Some(text),
                    version,
                })
            }
        }
    } else if text.contains('/') {
        Some(relative(&text).ok_or_else(invalid)?)
    } else {
        None
    };
    let (target_type, id) = match local {
        Some((t, id)) => {
            if let Some(m) = type_modifier {
                if *m != t {
                    return Err(Problem::Invalid(format!(
                        "Reference '{}' does not match the modifier ':{m}' of '{name}'",
                        unescape(raw)
                    )));
                }
            }
            if !param.targets.is_empty() && !param.targets.contains(&t) {
                return Err(Problem::Invalid(format!(
                    "'{t}' is not a target type of reference parameter '{name}'"
                )));
            }
            (Some(t), id)
        }
        None => {
            if !is_id(&text) {
                return Err(invalid());
            }
            (
                type_modifier
                    .cloned()
                    .or_else(|| param.implied_target.clone()),
                text,
            )
        }
    };
    Ok(Cond::Reference {
        param: param.code.clone(),
        target_type,
        id: Some(id),
        url: None,
        version,
    })
}

/// `Type/id` or `Type/id/_history/n` (the version is not searchable: references match
/// whatever version they point to).
fn relative(text: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = text.split('/').collect();
    let (t, id) = match segments.as_slice() {
        [t, id] => (*t, *id),
        [t, id, "_history", v] if !v.is_empty() => (*t, *id),
        _ => return None,
    };
    (element_types::is_resource_type(t) && is_id(id)).then(|| (t.to_string(), id.to_string()))
}

/// `a$b`: each part read as its component's type.
fn composite(param: &ParamRef, raw: &str, base_url: &str) -> Result<Cond, Problem> {
    let parts = split_unescaped(raw, '$');
    if parts.len() != param.components.len() {
        return Err(Problem::Invalid(format!(
            "Invalid composite value '{}' for '{}': expected {} parts separated by '$'",
            unescape(raw),
            param.display,
            param.components.len()
        )));
    }
    let conds = parts
        .iter()
        .zip(&param.components)
        .enumerate()
        .map(|(i, (part, component))| {
            let sub = ParamRef::component(param, i, component);
            if part.is_empty() {
                return Err(Problem::Invalid(format!(
                    "Empty part in composite value for '{}'",
                    sub.display
                )));
            }
            cond(&sub, &Modifier::None, part, base_url)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Cond::Composite {
        param: param.code.clone(),
        parts: conds,
    })
}
