//! Code sets for the token modifiers `:in`, `:not-in`, `:above` and `:below`, computed from
//! ValueSet and CodeSystem resources (R4 valueset.html "Value Set Expansion", codesystem.html
//! "concept hierarchy"). Pure: the caller fetches the resources (see [`needs`]) and this
//! module expands them; nothing here knows where they are stored.
//!
//! An expansion is exact or refused: a ValueSet that includes a code system the caller could
//! not supply, or filters with an operator not evaluated here, is an error naming what is
//! missing, never a silently smaller set (which would make a search return too little).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Codes by system.
pub type CodeSet = BTreeMap<String, BTreeSet<String>>;

/// How many nested ValueSet imports an expansion follows.
const MAX_IMPORT_DEPTH: usize = 8;

/// The canonical resources an expansion reads, by url (versions ignored: the token index
/// keeps no code system version either).
#[derive(Default)]
pub struct Canonicals {
    pub value_sets: BTreeMap<String, Value>,
    pub code_systems: BTreeMap<String, Value>,
}

impl Canonicals {
    fn value_set(&self, url: &str) -> Option<&Value> {
        self.value_sets.get(url)
    }

    fn code_system(&self, url: &str) -> Option<&Value> {
        self.code_systems.get(url)
    }
}

/// The canonical urls a ValueSet refers to: (value sets, code systems). A caller fetches
/// these, then asks again of each fetched ValueSet, until nothing new turns up.
pub fn needs(vs: &Value) -> (Vec<String>, Vec<String>) {
    let mut sets = Vec::new();
    let mut systems = Vec::new();
    if vs.pointer("/expansion/contains").is_some() {
        return (sets, systems);
    }
    for part in ["include", "exclude"] {
        for inc in array(vs.pointer(&format!("/compose/{part}"))) {
            for v in array(inc.get("valueSet")) {
                if let Some(u) = v.as_str() {
                    sets.push(unversioned(u).to_string());
                }
            }
            if let Some(s) = inc.get("system").and_then(Value::as_str) {
                if inc.get("concept").is_none() {
                    systems.push(s.to_string());
                }
            }
        }
    }
    (sets, systems)
}

/// `url|version` → `url`.
pub fn unversioned(url: &str) -> &str {
    url.split_once('|').map_or(url, |(u, _)| u)
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn name(vs: &Value) -> String {
    vs.get("url")
        .and_then(Value::as_str)
        .or_else(|| vs.get("id").and_then(Value::as_str))
        .unwrap_or("(a ValueSet without url)")
        .to_string()
}

/// Every code of a ValueSet, at most `cap` (more is an error).
pub fn expand(vs: &Value, source: &Canonicals, cap: usize) -> Result<CodeSet, String> {
    let set = expand_at(vs, source, 0)?;
    let n: usize = set.values().map(BTreeSet::len).sum();
    if n > cap {
        return Err(format!(
            "ValueSet '{}' has {n} codes, more than the {cap} a search can test",
            name(vs)
        ));
    }
    Ok(set)
}

fn expand_at(vs: &Value, source: &Canonicals, depth: usize) -> Result<CodeSet, String> {
    if depth > MAX_IMPORT_DEPTH {
        return Err(format!(
            "ValueSet '{}' imports value sets more than {MAX_IMPORT_DEPTH} levels deep",
            name(vs)
        ));
    }
    // A stored expansion is the value set's content as its author computed it.
    if let Some(contains) = vs.pointer("/expansion/contains") {
        let mut out = CodeSet::new();
        add_contains(contains, &mut out);
        return Ok(out);
    }
    let Some(compose) = vs.get("compose") else {
        return Err(format!(
            "ValueSet '{}' has neither an expansion nor a compose",
            name(vs)
        ));
    };
    let mut out = CodeSet::new();
    for inc in array(compose.get("include")) {
        for (s, codes) in part(vs, inc, source, depth)? {
            out.entry(s).or_default().extend(codes);
        }
    }
    for exc in array(compose.get("exclude")) {
        for (s, codes) in part(vs, exc, source, depth)? {
            if let Some(have) = out.get_mut(&s) {
                have.retain(|c| !codes.contains(c));
            }
        }
    }
    out.retain(|_, codes| !codes.is_empty());
    Ok(out)
}

fn add_contains(contains: &Value, out: &mut CodeSet) {
    for c in array(Some(contains)) {
        if let (Some(s), Some(code)) = (
            c.get("system").and_then(Value::as_str),
            c.get("code").and_then(Value::as_str),
        ) {
            out.entry(s.to_string())
                .or_default()
                .insert(code.to_string());
        }
        if let Some(nested) = c.get("contains") {
            add_contains(nested, out);
        }
    }
}

/// One `compose.include` / `compose.exclude` item: the codes of its system part (listed
/// concepts, filters, or the whole system), intersected with every ValueSet it names.
fn part(vs: &Value, inc: &Value, source: &Canonicals, depth: usize) -> Result<CodeSet, String> {
    let mut result: Option<CodeSet> = None;
    if let Some(system) = inc.get("system").and_then(Value::as_str) {
        let codes = system_part(vs, system, inc, source)?;
        result = Some(CodeSet::from([(system.to_string(), codes)]));
    }
    for v in array(inc.get("valueSet")) {
        let url = unversioned(v.as_str().unwrap_or_default());
        let imported = source.value_set(url).ok_or_else(|| {
            format!(
                "ValueSet '{}' imports ValueSet '{url}', which is not on this server",
                name(vs)
            )
        })?;
        let set = expand_at(imported, source, depth + 1)?;
        result = Some(match result {
            None => set,
            Some(have) => intersect(&have, &set),
        });
    }
    Ok(result.unwrap_or_default())
}

fn intersect(a: &CodeSet, b: &CodeSet) -> CodeSet {
    let mut out = CodeSet::new();
    for (s, codes) in a {
        if let Some(other) = b.get(s) {
            let both: BTreeSet<String> = codes.intersection(other).cloned().collect();
            if !both.is_empty() {
                out.insert(s.clone(), both);
            }
        }
    }
    out
}

fn system_part(
    vs: &Value,
    system: &str,
    inc: &Value,
    source: &Canonicals,
) -> Result<BTreeSet<String>, String> {
    if let Some(concepts) = inc.get("concept") {
        return Ok(array(Some(concepts))
            .iter()
            .filter_map(|c| c.get("code").and_then(Value::as_str))
            .map(str::to_string)
            .collect());
    }
    let cs = source.code_system(system).ok_or_else(|| {
        format!(
            "ValueSet '{}' includes code system '{system}', which is not on this server",
            name(vs)
        )
    })?;
    let hierarchy = Hierarchy::of(cs);
    if hierarchy.incomplete {
        return Err(format!(
            "ValueSet '{}' includes code system '{system}', whose content on this server is not complete",
            name(vs)
        ));
    }
    let mut codes: BTreeSet<String> = hierarchy.codes.iter().cloned().collect();
    for f in array(inc.get("filter")) {
        let property = f.get("property").and_then(Value::as_str).unwrap_or("");
        let op = f.get("op").and_then(Value::as_str).unwrap_or("");
        let value = f.get("value").and_then(Value::as_str).unwrap_or("");
        let matching: BTreeSet<String> = match (op, property) {
            ("is-a", "concept" | "code") => hierarchy.below(value, true),
            ("descendent-of", "concept" | "code") => hierarchy.below(value, false),
            ("is-not-a", "concept" | "code") => {
                let below = hierarchy.below(value, true);
                hierarchy
                    .codes
                    .iter()
                    .filter(|c| !below.contains(*c))
                    .cloned()
                    .collect()
            }
            ("generalizes", "concept" | "code") => hierarchy.above(value),
            ("=", p) => hierarchy.with_property(p, |v| v == value),
            ("in", p) => {
                let values: BTreeSet<&str> = value.split(',').map(str::trim).collect();
                hierarchy.with_property(p, |v| values.contains(v))
            }
            ("exists", p) => {
                let has = hierarchy.with_property(p, |_| true);
                match value {
                    "true" => has,
                    "false" => hierarchy
                        .codes
                        .iter()
                        .filter(|c| !has.contains(*c))
                        .cloned()
                        .collect(),
                    _ => return Err(format!("Filter 'exists' needs true or false, not '{value}'")),
                }
            }
            _ => {
                return Err(format!(
                    "ValueSet '{}': filter '{property} {op} {value}' on '{system}' is not supported by this server",
                    name(vs)
                ))
            }
        };
        codes.retain(|c| matching.contains(c));
    }
    Ok(codes)
}

/// A CodeSystem's concepts and their is-a hierarchy: nesting of `concept`, and the `parent`
/// / `child` properties (codesystem.html: both say is-a when hierarchyMeaning is is-a, the
/// default).
pub struct Hierarchy {
    codes: Vec<String>,
    children: BTreeMap<String, BTreeSet<String>>,
    parents: BTreeMap<String, BTreeSet<String>>,
    /// Property values per code, as text: (property code, value).
    properties: BTreeMap<String, Vec<(String, String)>>,
    /// `content` is not `complete` (a fragment, an example, not-present): the listed codes
    /// are not all there are.
    incomplete: bool,
}

impl Hierarchy {
    pub fn of(cs: &Value) -> Hierarchy {
        let mut h = Hierarchy {
            codes: Vec::new(),
            children: BTreeMap::new(),
            parents: BTreeMap::new(),
            properties: BTreeMap::new(),
            incomplete: cs
                .get("content")
                .and_then(Value::as_str)
                .is_some_and(|c| c != "complete"),
        };
        h.walk(array(cs.get("concept")), None);
        h
    }

    fn link(&mut self, parent: &str, child: &str) {
        self.children
            .entry(parent.to_string())
            .or_default()
            .insert(child.to_string());
        self.parents
            .entry(child.to_string())
            .or_default()
            .insert(parent.to_string());
    }

    fn walk(&mut self, concepts: &[Value], parent: Option<&str>) {
        for c in concepts {
            let Some(code) = c.get("code").and_then(Value::as_str) else {
                continue;
            };
            self.codes.push(code.to_string());
            if let Some(p) = parent {
                self.link(p, code);
            }
            for prop in array(c.get("property")) {
                let pcode = prop.get("code").and_then(Value::as_str).unwrap_or("");
                let value = ["valueCode", "valueString", "valueBoolean", "valueInteger"]
                    .iter()
                    .find_map(|k| prop.get(*k))
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                let Some(value) = value else { continue };
                match pcode {
                    "parent" => self.link(&value, code),
                    "child" => self.link(code, &value),
                    _ => {}
                }
                self.properties
                    .entry(code.to_string())
                    .or_default()
                    .push((pcode.to_string(), value));
            }
            self.walk(array(c.get("concept")), Some(code));
        }
    }

    fn closure(map: &BTreeMap<String, BTreeSet<String>>, start: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(c) = todo.pop() {
            for next in map.get(&c).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    }

    /// The descendants of `code` (and `code` itself when `and_self`).
    pub fn below(&self, code: &str, and_self: bool) -> BTreeSet<String> {
        let mut out = Self::closure(&self.children, code);
        if and_self {
            out.insert(code.to_string());
        }
        out
    }

    /// `code` and its ancestors.
    pub fn above(&self, code: &str) -> BTreeSet<String> {
        let mut out = Self::closure(&self.parents, code);
        out.insert(code.to_string());
        out
    }

    fn with_property(&self, property: &str, test: impl Fn(&str) -> bool) -> BTreeSet<String> {
        self.properties
            .iter()
            .filter(|(_, props)| props.iter().any(|(p, v)| p == property && test(v)))
            .map(|(c, _)| c.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shapes() -> Value {
        json!({"resourceType": "CodeSystem", "url": "http://x/shapes", "content": "complete",
        "concept": [
            {"code": "shape", "concept": [
                {"code": "round", "concept": [{"code": "circle"}, {"code": "ellipse"}]},
                {"code": "polygon", "property": [{"code": "sides", "valueInteger": 0}],
                 "concept": [{"code": "triangle", "property": [{"code": "sides", "valueInteger": 3}]}]}
            ]},
            {"code": "square", "property": [
                {"code": "parent", "valueCode": "polygon"},
                {"code": "sides", "valueInteger": 4}]}
        ]})
    }

    fn store() -> Canonicals {
        let mut s = Canonicals::default();
        s.code_systems.insert("http://x/shapes".into(), shapes());
        s
    }

    fn codes(set: &CodeSet, system: &str) -> Vec<String> {
        set.get(system)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn hierarchy_by_nesting_and_parent_property() {
        let h = Hierarchy::of(&shapes());
        assert_eq!(
            h.below("polygon", true).into_iter().collect::<Vec<_>>(),
            ["polygon", "square", "triangle"]
        );
        assert_eq!(
            h.below("round", false).into_iter().collect::<Vec<_>>(),
            ["circle", "ellipse"]
        );
        assert_eq!(
            h.above("square").into_iter().collect::<Vec<_>>(),
            ["polygon", "shape", "square"]
        );
        // An unknown code subsumes and is subsumed by itself only.
        assert_eq!(h.below("hexagon", true).len(), 1);
    }

    #[test]
    fn compose_concepts_filters_whole_systems_and_excludes() {
        let s = store();
        let vs = json!({"url": "http://x/vs", "compose": {
            "include": [
                {"system": "http://x/shapes", "filter": [{"property": "concept", "op": "is-a", "value": "round"}]},
                {"system": "http://loinc.org", "concept": [{"code": "1-1"}, {"code": "2-2"}]}
            ],
            "exclude": [{"system": "http://x/shapes", "concept": [{"code": "ellipse"}]}]
        }});
        let set = expand(&vs, &s, 100).unwrap();
        assert_eq!(codes(&set, "http://x/shapes"), ["circle", "round"]);
        assert_eq!(codes(&set, "http://loinc.org"), ["1-1", "2-2"]);
        let whole = json!({"compose": {"include": [{"system": "http://x/shapes"}]}});
        assert_eq!(
            codes(&expand(&whole, &s, 100).unwrap(), "http://x/shapes").len(),
            7
        );
        let by_property = json!({"compose": {"include": [{"system": "http://x/shapes",
            "filter": [{"property": "sides", "op": "in", "value": "3,4"}]}]}});
        assert_eq!(
            codes(&expand(&by_property, &s, 100).unwrap(), "http://x/shapes"),
            ["square", "triangle"]
        );
        let descendants = json!({"compose": {"include": [{"system": "http://x/shapes",
            "filter": [{"property": "concept", "op": "descendent-of", "value": "polygon"}]}]}});
        assert_eq!(
            codes(&expand(&descendants, &s, 100).unwrap(), "http://x/shapes"),
            ["square", "triangle"]
        );
    }

    #[test]
    fn imports_intersect_and_expansions_are_used_as_they_are() {
        let mut s = store();
        s.value_sets.insert(
            "http://x/a".into(),
            json!({"url": "http://x/a", "expansion": {"contains": [
                {"system": "http://x/shapes", "code": "circle"},
                {"system": "http://x/shapes", "code": "square", "contains": [
                    {"system": "http://x/shapes", "code": "triangle"}]}]}}),
        );
        let vs = json!({"compose": {"include": [{"system": "http://x/shapes",
            "filter": [{"property": "concept", "op": "is-a", "value": "polygon"}],
            "valueSet": ["http://x/a|2.0"]}]}});
        assert_eq!(
            codes(&expand(&vs, &s, 100).unwrap(), "http://x/shapes"),
            ["square", "triangle"]
        );
        assert_eq!(
            needs(&vs),
            (
                vec!["http://x/a".to_string()],
                vec!["http://x/shapes".to_string()]
            )
        );
    }

    #[test]
    fn what_cannot_be_expanded_exactly_is_an_error() {
        let s = store();
        let snomed = json!({"url": "http://x/snomed-vs", "compose": {"include": [{"system": "http://snomed.info/sct",
            "filter": [{"property": "concept", "op": "is-a", "value": "404684003"}]}]}});
        let e = expand(&snomed, &s, 100).unwrap_err();
        assert!(
            e.contains("http://snomed.info/sct") && e.contains("not on this server"),
            "{e}"
        );
        let regex = json!({"compose": {"include": [{"system": "http://x/shapes",
            "filter": [{"property": "code", "op": "regex", "value": "c.*"}]}]}});
        assert!(expand(&regex, &s, 100)
            .unwrap_err()
            .contains("not supported"));
        let missing_import = json!({"compose": {"include": [{"valueSet": ["http://x/nope"]}]}});
        assert!(expand(&missing_import, &s, 100)
            .unwrap_err()
            .contains("http://x/nope"));
        let big = json!({"compose": {"include": [{"system": "http://x/shapes"}]}});
        assert!(expand(&big, &s, 3).unwrap_err().contains("more than the 3"));
        let mut fragment = shapes();
        fragment["content"] = json!("fragment");
        let mut s2 = Canonicals::default();
        s2.code_systems.insert("http://x/shapes".into(), fragment);
        assert!(expand(&big, &s2, 100).unwrap_err().contains("not complete"));
    }
}
