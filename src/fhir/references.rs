//! References inside a resource that a transaction rewrites: `urn:uuid:`/`urn:oid:` and other
//! entry `fullUrl`s that stand for resources the transaction creates, and conditional
//! references (`Patient?identifier=…`) that stand for the one resource a search finds
//! (https://hl7.org/fhir/R4/http.html#trules).
//!
//! The places a resource can point at another entry: `Reference.reference` (anywhere, also in
//! extensions and contained resources), `Attachment.url`-like `url` elements, and `href`/`src`
//! attributes of the narrative.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// True for `Type?params`: a reference that a search must resolve.
pub fn is_conditional(reference: &str) -> bool {
    match reference.split_once('?') {
        Some((ty, _)) => {
            !ty.is_empty()
                && !ty.contains('/')
                && !ty.contains(':')
                && ty.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Every distinct conditional reference in a resource, in order.
pub fn conditional_references(resource: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    walk(resource, &mut |key, s| {
        if key == "reference" && is_conditional(s) {
            found.insert(s.to_string());
        }
        None
    });
    found
}

/// The base of an absolute `fullUrl` (`http://h/fhir/Patient/1` → `http://h/fhir`): relative
/// references inside that entry are relative to it.
pub fn base_of(full_url: &str) -> Option<&str> {
    if !(full_url.starts_with("http://") || full_url.starts_with("https://")) {
        return None;
    }
    let (rest, _id) = full_url.rsplit_once('/')?;
    let (base, _type) = rest.rsplit_once('/')?;
    Some(base)
}

/// Where the entries of a Bundle end up: `fullUrl` (and resolved conditional reference) →
/// `Type/id` on this server.
#[derive(Debug, Default)]
pub struct Links {
    exact: HashMap<String, String>,
    /// `Type/id` tails of absolute `fullUrl`s; `None` when two entries share a tail.
    tails: HashMap<String, Option<String>>,
}

impl Links {
    pub fn insert(&mut self, full_url: &str, target: String) {
        if let Some(base) = base_of(full_url) {
            let tail = full_url[base.len() + 1..].to_string();
            self.tails
                .entry(tail)
                .and_modify(|t| *t = None)
                .or_insert_with(|| Some(target.clone()));
        }
        self.exact.insert(full_url.to_string(), target);
    }

    pub fn contains(&self, full_url: &str) -> bool {
        self.exact.contains_key(full_url)
    }

    /// A reference's target: the entry whose `fullUrl` it is; for a relative `Type/id`, the
    /// entry at `base/Type/id` when the referring entry has an absolute `base`, otherwise the
    /// one entry whose absolute `fullUrl` ends in `Type/id`.
    fn resolve(&self, reference: &str, base: Option<&str>) -> Option<&String> {
        if let Some(t) = self.exact.get(reference) {
            return Some(t);
        }
        if reference.contains(':') || reference.matches('/').count() != 1 {
            return None;
        }
        match base {
            Some(base) => self.exact.get(&format!("{base}/{reference}")),
            None => self.tails.get(reference).and_then(Option::as_ref),
        }
    }
}

/// Replaces every reference, `url` and narrative link that names an entry of `links` with
/// the entry's `Type/id` (see `Links::resolve`; `base` is the referring entry's). Returns how
/// many were replaced.
pub fn rewrite(resource: &mut Value, links: &Links, base: Option<&str>) -> usize {
    if links.exact.is_empty() {
        return 0;
    }
    let mut n = 0;
    walk_mut(resource, &mut |key, s| match key {
        "reference" | "url" => links.resolve(s, base).map(|to| {
            n += 1;
            to.clone()
        }),
        "div" => {
            let (text, k) = rewrite_links(s, &links.exact);
            n += k;
            (k > 0).then_some(text)
        }
        _ => None,
    });
    n
}

/// Rewrites `href="…"` and `src="…"` attribute values of an XHTML fragment.
fn rewrite_links(div: &str, map: &HashMap<String, String>) -> (String, usize) {
    let mut out = String::with_capacity(div.len());
    let mut n = 0;
    let mut rest = div;
    while let Some(pos) = rest.find(['"', '\'']) {
        let quote = rest.as_bytes()[pos] as char;
        out.push_str(&rest[..=pos]);
        rest = &rest[pos + 1..];
        let end = rest.find(quote).unwrap_or(rest.len());
        let value = &rest[..end];
        let attr = out.trim_end_matches(quote).trim_end().trim_end_matches('=');
        let is_link = attr.ends_with("href") || attr.ends_with("src");
        match map.get(value).filter(|_| is_link) {
            Some(to) => {
                out.push_str(to);
                n += 1;
            }
            None => out.push_str(value),
        }
        rest = &rest[end..];
        if let Some(stripped) = rest.strip_prefix(quote) {
            out.push(quote);
            rest = stripped;
        }
    }
    out.push_str(rest);
    (out, n)
}

fn walk(v: &Value, f: &mut impl FnMut(&str, &str) -> Option<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => {
                        f(k, s);
                    }
                    _ => walk(v, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| walk(v, f)),
        _ => {}
    }
}

/// Calls `f(key, string)` for every string member of every object (also inside arrays) and
/// replaces the string when `f` returns a new one.
fn walk_mut(v: &mut Value, f: &mut impl FnMut(&str, &str) -> Option<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                match v {
                    Value::String(s) => {
                        if let Some(new) = f(k, s) {
                            *s = new;
                        }
                    }
                    _ => walk_mut(v, f),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| walk_mut(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditional_references_are_type_and_query() {
        assert!(is_conditional("Patient?identifier=http://x|1"));
        assert!(!is_conditional("Patient/1"));
        assert!(!is_conditional("urn:uuid:1?x"));
        assert!(!is_conditional("http://h/fhir/Patient?x=1"));
        assert!(!is_conditional("?x=1"));
        let r = json!({"subject": {"reference": "Patient?identifier=a|1"},
                       "extension": [{"url": "u", "valueReference": {"reference": "Organization?name=x"}}],
                       "performer": [{"reference": "Patient?identifier=a|1"}]});
        assert_eq!(
            conditional_references(&r).into_iter().collect::<Vec<_>>(),
            ["Organization?name=x", "Patient?identifier=a|1"]
        );
    }

    #[test]
    fn rewrites_references_urls_and_narrative_links() {
        let mut map = Links::default();
        map.insert("urn:uuid:a", "Patient/1".to_string());
        map.insert("urn:uuid:b", "Binary/2".to_string());
        let mut r = json!({
            "subject": {"reference": "urn:uuid:a", "display": "urn:uuid:a"},
            "contained": [{"resourceType": "Provenance", "target": [{"reference": "urn:uuid:a"}]}],
            "extension": [{"url": "http://ext", "valueReference": {"reference": "urn:uuid:a"}}],
            "content": [{"attachment": {"url": "urn:uuid:b"}}],
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"urn:uuid:a\">urn:uuid:a</a><img src='urn:uuid:b'/></div>"},
            "other": {"reference": "urn:uuid:zzz"}
        });
        assert_eq!(rewrite(&mut r, &map, None), 6);
        assert_eq!(r["subject"]["reference"], "Patient/1");
        assert_eq!(r["subject"]["display"], "urn:uuid:a");
        assert_eq!(r["contained"][0]["target"][0]["reference"], "Patient/1");
        assert_eq!(r["extension"][0]["url"], "http://ext");
        assert_eq!(
            r["extension"][0]["valueReference"]["reference"],
            "Patient/1"
        );
        assert_eq!(r["content"][0]["attachment"]["url"], "Binary/2");
        assert_eq!(
            r["text"]["div"],
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"Patient/1\">urn:uuid:a</a><img src='Binary/2'/></div>"
        );
        assert_eq!(r["other"]["reference"], "urn:uuid:zzz");
    }

    #[test]
    fn relative_references_resolve_against_the_entry_base() {
        assert_eq!(base_of("http://h/fhir/Patient/1"), Some("http://h/fhir"));
        assert_eq!(base_of("urn:uuid:1"), None);
        let mut map = Links::default();
        map.insert("http://h/fhir/Patient/a2", "Patient/9".to_string());
        map.insert("http://h/fhir/Patient/a3", "Patient/10".to_string());
        map.insert("http://other/fhir/Patient/a3", "Patient/11".to_string());
        let r = json!({"subject": {"reference": "Patient/a2"}, "other": {"reference": "Patient/a3"},
                       "third": {"reference": "Patient/a4"}});
        // From an entry with an absolute base: that base.
        let mut from_h = r.clone();
        assert_eq!(rewrite(&mut from_h, &map, Some("http://h/fhir")), 2);
        assert_eq!(from_h["subject"]["reference"], "Patient/9");
        assert_eq!(from_h["other"]["reference"], "Patient/10");
        // From a urn:uuid entry: the one entry with that tail; an ambiguous tail stays.
        let mut from_urn = r.clone();
        assert_eq!(rewrite(&mut from_urn, &map, None), 1);
        assert_eq!(from_urn["subject"]["reference"], "Patient/9");
        assert_eq!(from_urn["other"]["reference"], "Patient/a3");
        assert_eq!(from_urn["third"]["reference"], "Patient/a4");
    }
}
