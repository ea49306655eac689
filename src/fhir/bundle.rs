//! Bundles the server produces: history and searchset (transaction-response later).

use serde_json::{json, Map, Value};

/// One entry of a history Bundle.
pub struct HistoryEntry {
    pub full_url: String,
    /// `None` for a deletion.
    pub resource: Option<Value>,
    pub method: &'static str,
    /// `request.url`: `Type` for a create, `Type/id` otherwise.
    pub request_url: String,
    pub status: &'static str,
    pub etag: String,
    pub last_modified: String,
}

pub struct Link {
    pub relation: &'static str,
    pub url: String,
}

pub fn history_bundle(
    id: &str,
    last_updated: &str,
    links: &[Link],
    entries: Vec<HistoryEntry>,
) -> Value {
    let links: Vec<Value> = links
        .iter()
        .map(|l| json!({"relation": l.relation, "url": l.url}))
        .collect();
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("fullUrl".into(), json!(e.full_url));
            if let Some(r) = e.resource {
                m.insert("resource".into(), r);
            }
            m.insert(
                "request".into(),
                json!({"method": e.method, "url": e.request_url}),
            );
            m.insert(
                "response".into(),
                json!({"status": e.status, "etag": e.etag, "lastModified": e.last_modified}),
            );
            Value::Object(m)
        })
        .collect();
    let mut b = Map::new();
    b.insert("resourceType".into(), json!("Bundle"));
    b.insert("id".into(), json!(id));
    b.insert("meta".into(), json!({"lastUpdated": last_updated}));
    b.insert("type".into(), json!("history"));
    b.insert("link".into(), Value::Array(links));
    if !entries.is_empty() {
        b.insert("entry".into(), Value::Array(entries));
    }
    Value::Object(b)
}

/// Why an entry is in a searchset Bundle (`entry.search.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Match,
    Include,
    Outcome,
}

impl SearchMode {
    fn as_str(self) -> &'static str {
        match self {
            SearchMode::Match => "match",
            SearchMode::Include => "include",
            SearchMode::Outcome => "outcome",
        }
    }
}

/// What an entry of a searchset carries: a resource built or reduced here, or the stored
/// compact JSON as it is (copied into the Bundle without being parsed again).
pub enum EntryResource {
    Json(Value),
    Stored(bytes::Bytes),
}

pub struct SearchEntry {
    /// `None` for an OperationOutcome entry (it has no address on this server).
    pub full_url: Option<String>,
    pub resource: EntryResource,
    pub mode: SearchMode,
}

/// A searchset Bundle as compact JSON.
pub fn searchset_bundle(
    id: &str,
    last_updated: &str,
    total: Option<u64>,
    links: &[Link],
    entries: Vec<SearchEntry>,
) -> Vec<u8> {
    let mut b = Map::new();
    b.insert("resourceType".into(), json!("Bundle"));
    b.insert("id".into(), json!(id));
    b.insert("meta".into(), json!({"lastUpdated": last_updated}));
    b.insert("type".into(), json!("searchset"));
    if let Some(t) = total {
        b.insert("total".into(), json!(t));
    }
    b.insert(
        "link".into(),
        Value::Array(
            links
                .iter()
                .map(|l| json!({"relation": l.relation, "url": l.url}))
                .collect(),
        ),
    );
    let mut out = serde_json::to_vec(&Value::Object(b)).unwrap_or_default();
    if entries.is_empty() {
        return out;
    }
    // Reopen the object (it ends with `}`) to append the entries.
    out.pop();
    out.extend_from_slice(b",\"entry\":[");
    for (i, e) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if let Some(u) = e.full_url {
            out.extend_from_slice(b"\"fullUrl\":");
            out.extend_from_slice(json!(u).to_string().as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(b"\"resource\":");
        match e.resource {
            EntryResource::Json(v) => out.extend_from_slice(v.to_string().as_bytes()),
            EntryResource::Stored(bytes) => out.extend_from_slice(&bytes),
        }
        out.extend_from_slice(b",\"search\":{\"mode\":\"");
        out.extend_from_slice(e.mode.as_str().as_bytes());
        out.extend_from_slice(b"\"}}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// A weak ETag for a version number, as FHIR uses them: `W/"3"`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The version an `If-Match` / `If-None-Match` value names (`W/"3"`, `"3"` or `3`).
pub fn parse_etag(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searchset_splices_stored_and_built_resources() {
        let entries = vec![
            SearchEntry {
                full_url: Some("http://h/fhir/Patient/a".into()),
                resource: EntryResource::Stored(bytes::Bytes::from_static(
                    br#"{"resourceType":"Patient","id":"a"}"#,
                )),
                mode: SearchMode::Match,
            },
            SearchEntry {
                full_url: None,
                resource: EntryResource::Json(json!({"resourceType": "OperationOutcome"})),
                mode: SearchMode::Outcome,
            },
        ];
        let links = [Link {
            relation: "self",
            url: "http://h/fhir/Patient".into(),
        }];
        let b: Value =
            serde_json::from_slice(&searchset_bundle("x", "t", Some(1), &links, entries)).unwrap();
        assert_eq!(b["total"], 1);
        assert_eq!(b["entry"][0]["resource"]["id"], "a");
        assert_eq!(b["entry"][0]["search"]["mode"], "match");
        assert_eq!(
            b["entry"][1]["resource"]["resourceType"],
            "OperationOutcome"
        );
        assert!(b["entry"][1].get("fullUrl").is_none());
        let empty: Value =
            serde_json::from_slice(&searchset_bundle("x", "t", None, &links, vec![])).unwrap();
        assert!(empty.get("entry").is_none() && empty.get("total").is_none());
    }

    #[test]
    fn etags() {
        assert_eq!(etag(3), "W/\"3\"");
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("7"), Some(7));
        assert_eq!(parse_etag("W/\"x\""), None);
    }
}
