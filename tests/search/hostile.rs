//! A sweep of malformed, extreme and nonsensical searches over every parameter the
//! CapabilityStatement lists: whatever the request, the answer is a Bundle (200) or an
//! OperationOutcome (4xx), never a server error. A wider run of the same idea (255,000
//! requests) found a NUL and an over-long `:contains` value that MongoDB refused (500).

use crate::common::TestServer;
use futures_util::{stream, StreamExt};
use serde_json::Value;

/// Modifiers, valid on some parameter types and not on others, plus nonsense.
const MODIFIERS: &[&str] = &[
    "missing",
    "exact",
    "contains",
    "text",
    "not",
    "above",
    "below",
    "in",
    "not-in",
    "of-type",
    "identifier",
    "Patient",
    "Foo",
    "iterate",
    "",
    "a:b",
];

/// Values that break one parser or another: separators alone, dangling escapes, impossible
/// dates, numbers past f64, references without ids, percent-encoded controls and
/// multi-byte text (as the query string carries them).
const VALUES: &[&str] = &[
    "",
    "%7C",
    "%7C%7C",
    "a%7Cb%7Cc",
    "%5C",
    "a%5C",
    "%5C%2C",
    "%2C",
    "%2C%2C",
    "%24",
    "a%24b",
    "ge",
    "gt2020-13-01",
    "2020-02-30",
    "2020-01-01T25:00:00Z",
    "2020-01-01T10:00",
    "eq1e400",
    "NaN",
    "inf",
    "-0",
    "1e-400",
    "99999999999999999999999999",
    "ap0",
    "lt-1e308",
    "5%7C%7C",
    "Patient%2F",
    "%2F",
    "Patient%2Fa%2F_history%2F1",
    "http:%2F%2F",
    "urn:uuid:",
    "%00",
    "%09",
    "%C3%A9",
    "%E4%B8%AD%E6%96%87",
    "*",
    "true",
    "null",
    "1.",
    ".5",
    "0x10",
    "%2B1",
    "sa",
    "eb2020",
    "2020-",
    "T10:00",
    "2020-01-01T10:00:00%2B25:00",
    "10000-01-01",
    "-2020",
    "gt9223372036854775807",
    "1%7C2%243%7C4",
    "%24a",
    "ValueSet%2Fnone",
    "%25",
    "sa9999-12-31T23:59:59.999999999Z",
    "http:%2F%2Floinc.org%7C",
];

/// Result parameters and other query-level oddities, each sent at type and system level.
const RESULT_PARAMS: &[&str] = &[
    "_count=-1",
    "_count=abc",
    "_count=99999999999",
    "_count=5&_count=6",
    "_sort=-",
    "_sort=,",
    "_sort=--_id",
    "_sort=_id,_id",
    "_include=garbage",
    "_include=Observation:subject:Foo",
    "_include:iterate=*",
    "_revinclude=*",
    "_revinclude=Foo:bar",
    "_elements=,,",
    "_summary=foo",
    "_summary=count&_summary=true",
    "_total=foo",
    "_type=Foo",
    "_type=",
    "_lastUpdated=garbage",
    "_id=",
    "_id=%00",
    "_tag=%7C",
    "_profile=",
    "_text=x",
    "_content=x",
    "_filter=name%20eq%20x",
    "_query=x",
    "_list=x",
    "_has=x",
    "_has:Observation=x",
    "_has:Observation:subject=x",
    "_has:Foo:bar:baz=x",
    "_has:Observation:subject:_has:Foo=x",
    "_has:Observation:patient:code:not=x",
    "subject.unknown=x",
    "subject:Foo.name=x",
    "general-practitioner.organization.partof.partof.partof.partof.name=x",
    "_source=",
    "_summary=text&_elements=id",
    "_contained=true",
    "_cursor=garbage",
    "_at=2020",
];

/// xorshift: a fixed, reproducible choice of values without a dependency.
struct Pick(u64);

impl Pick {
    fn next<'a>(&mut self, from: &[&'a str]) -> &'a str {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        from[(self.0 % from.len() as u64) as usize]
    }
}

/// Each listed parameter with two modifiers and three plain values, and every result
/// parameter at system level and for every tenth type.
fn queries(capability: &Value) -> Vec<String> {
    let mut pick = Pick(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    let resources = capability["rest"][0]["resource"].as_array().unwrap();
    for (n, r) in resources.iter().enumerate() {
        let rt = r["type"].as_str().unwrap();
        for p in r["searchParam"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            for _ in 0..2 {
                let m = pick.next(MODIFIERS);
                out.push(format!("{rt}?{name}:{m}={}", pick.next(VALUES)));
            }
            for _ in 0..3 {
                out.push(format!("{rt}?{name}={}", pick.next(VALUES)));
            }
        }
        if n % 10 == 0 {
            out.extend(RESULT_PARAMS.iter().map(|q| format!("{rt}?{q}")));
        }
    }
    out.extend(RESULT_PARAMS.iter().map(|q| format!("/fhir?{q}")));
    out
}

pub async fn hostile_searches(s: &TestServer) {
    let capability: Value = s.get("metadata").await.json().await.unwrap();
    let queries = queries(&capability);
    assert!(queries.len() > 10_000, "{} queries", queries.len());
    let failures: Vec<String> = stream::iter(queries)
        .map(|q| async move {
            let resp = s.get(&q).await;
            let status = resp.status().as_u16();
            let body: Option<Value> = resp.json().await.ok();
            let kind = body.as_ref().and_then(|b| b["resourceType"].as_str());
            let fine = match status {
                200 => kind == Some("Bundle"),
                400..=499 => kind == Some("OperationOutcome"),
                _ => false,
            };
            (!fine).then(|| format!("{q} -> {status} {}", body.unwrap_or_default()))
        })
        .buffer_unordered(4)
        .filter_map(|f| async move { f })
        .collect()
        .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
