//! Content negotiation: which format a response uses (`Accept`, `_format`, `_pretty`) and which
//! format a request body is in (`Content-Type`).

use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// How a response body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub pretty: bool,
    /// The client asked for plain `application/json` (or `xml`) rather than the FHIR types;
    /// we answer with the media type it asked for.
    pub plain_mime: bool,
}

impl Output {
    pub const DEFAULT: Output = Output {
        format: Format::Json,
        pretty: false,
        plain_mime: false,
    };

    pub fn content_type(&self) -> &'static str {
        match (self.format, self.plain_mime) {
            (Format::Json, false) => "application/fhir+json; charset=utf-8",
            (Format::Json, true) => "application/json; charset=utf-8",
            (Format::Xml, false) => "application/fhir+xml; charset=utf-8",
            (Format::Xml, true) => "application/xml; charset=utf-8",
        }
    }
}

/// Maps a media type or `_format` value to a format; the flag says it is a non-FHIR type.
fn media_format(m: &str) -> Option<(Format, bool)> {
    match m.trim().to_ascii_lowercase().as_str() {
        "application/fhir+json" | "application/json+fhir" | "json" => Some((Format::Json, false)),
        "application/json" | "text/json" => Some((Format::Json, true)),
        "application/fhir+xml" | "application/xml+fhir" | "xml" => Some((Format::Xml, false)),
        "application/xml" | "text/xml" => Some((Format::Xml, true)),
        "*/*" | "application/*" => Some((Format::Json, false)),
        _ => None,
    }
}

/// Chooses the response format. `_format` overrides `Accept` (as the specification says);
/// an `Accept` that names only types we cannot produce gets 406.
pub fn output(
    accept: Option<&str>,
    format_param: Option<&str>,
    pretty: Option<&str>,
) -> FhirResult<Output> {
    let pretty = match pretty {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(FhirError::invalid(format!(
                "_pretty must be true or false, not '{other}'"
            )))
        }
    };
    if let Some(f) = format_param {
        // `_format=application/fhir+json; fhirVersion=4.0` and similar: the parameters do not
        // change the format.
        let media = f.split(';').next().unwrap_or("");
        let (format, plain_mime) = media_format(media).ok_or_else(|| {
            FhirError::new(
                ErrorKind::NotAcceptable,
                format!("_format '{f}' is not supported (use json or xml)"),
            )
        })?;
        return Ok(Output {
            format,
            pretty,
            plain_mime,
        });
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output {
            pretty,
            ..Output::DEFAULT
        });
    };
    let mut best: Option<(f32, Format, bool)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        // Types we cannot produce (text/html from a browser) are skipped; its `*/*` still
        // matches.
        if let Some((format, plain)) = media_format(media) {
            if best.is_none_or(|(bq, _, _)| q > bq) {
                best = Some((q, format, plain));
            }
        }
    }
    match best {
        Some((_, format, plain_mime)) => Ok(Output {
            format,
            pretty,
            plain_mime,
        }),
        None => Err(FhirError::new(
            ErrorKind::NotAcceptable,
            format!("Cannot produce any of '{accept}'; this server speaks application/fhir+json and application/fhir+xml"),
        )),
    }
}

/// The format of a request body, from its `Content-Type`. Anything but JSON or XML in UTF-8
/// is refused with 415.
pub fn input(content_type: Option<&str>) -> FhirResult<Format> {
    let Some(ct) = content_type else {
        return Err(FhirError::new(
            ErrorKind::UnsupportedMediaType,
            "The request has a body but no Content-Type; use application/fhir+json",
        ));
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("");
    for p in parts {
        if let Some(cs) = p.trim().strip_prefix("charset=") {
            let cs = cs.trim_matches('"');
            if !cs.eq_ignore_ascii_case("utf-8") && !cs.eq_ignore_ascii_case("utf8") {
                return Err(FhirError::new(
                    ErrorKind::UnsupportedMediaType,
                    format!("Only UTF-8 bodies are accepted, not charset {cs}"),
                ));
            }
        }
    }
    match media_format(media) {
        Some((f, _)) if !media.contains('*') && !matches!(media.trim(), "json" | "xml") => Ok(f),
        _ => Err(FhirError::new(
            ErrorKind::UnsupportedMediaType,
            format!("Content-Type '{ct}' is not supported; use application/fhir+json or application/fhir+xml"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_and_format() {
        assert_eq!(output(None, None, None).unwrap(), Output::DEFAULT);
        assert_eq!(
            output(Some("application/fhir+xml"), None, None)
                .unwrap()
                .format,
            Format::Xml
        );
        assert_eq!(
            output(Some("application/fhir+xml"), Some("json"), None)
                .unwrap()
                .format,
            Format::Json
        );
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(
            output(Some(browser), None, None).unwrap().format,
            Format::Xml
        );
        assert_eq!(
            output(Some("text/plain"), None, None).unwrap_err().kind,
            ErrorKind::NotAcceptable
        );
        assert_eq!(
            output(None, Some("html"), None).unwrap_err().kind,
            ErrorKind::NotAcceptable
        );
        assert!(output(None, None, Some("true")).unwrap().pretty);
        assert!(
            output(Some("application/json"), None, None)
                .unwrap()
                .plain_mime
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            input(Some("application/fhir+json; charset=UTF-8")).unwrap(),
            Format::Json
        );
        assert_eq!(input(Some("application/json")).unwrap(), Format::Json);
        assert_eq!(input(Some("application/fhir+xml")).unwrap(), Format::Xml);
        for bad in ["text/plain", "application/x-www-form-urlencoded", "*/*"] {
            assert_eq!(
                input(Some(bad)).unwrap_err().kind,
                ErrorKind::UnsupportedMediaType
            );
        }
        assert_eq!(
            input(Some("application/fhir+json; charset=latin1"))
                .unwrap_err()
                .kind,
            ErrorKind::UnsupportedMediaType
        );
        assert_eq!(
            input(None).unwrap_err().kind,
            ErrorKind::UnsupportedMediaType
        );
    }
}
