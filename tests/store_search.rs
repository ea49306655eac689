//! Search in both stores with hand-built index entries: every condition kind and prefix,
//! negation, `:missing`, composites, multi-type queries, sorting, keyset paging, count,
//! read_many and the write path (update, delete, failed commits, partitions). Expected ids are
//! worked out by hand from the entries below and search.html. MongoDB cases need
//! `FHIRD_TEST_MONGODB` (scripts/test.sh starts a server).

use crate::common;

use bytes::Bytes;
use fhird::fhir::search::params::ParamType;
use fhird::fhir::search::query::{
    Cond, Cursor, Prefix, Sort, SortKey, SortValue, StoreFilter, StoreQuery, StringMode,
    SystemMatch, UriMode,
};
use fhird::fhir::search::values::{date_range, decimal_range, normalize_string};
use fhird::fhir::search::{IndexEntry, IndexValue};
use fhird::partition::Partition;
use fhird::store::{Method, Store, StoreError, Version, Write};
use std::sync::Arc;

const GENDER: &str = "http://hl7.org/fhir/administrative-gender";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const MRN: &str = "http://acme.org/mrn";

// ---- entry builders -------------------------------------------------------------------------

fn s(param: &str, exact: &str) -> IndexEntry {
    IndexEntry {
        param: param.into(),
        value: IndexValue::String {
            norm: normalize_string(exact),
            exact: exact.into(),
        },
    }
}

fn token_value(system: Option<&str>, code: &str, text: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(Into::into),
        code: Some(code.into()),
        text: text.map(normalize_string),
    }
}

fn tok(param: &str, system: Option<&str>, code: &str, text: Option<&str>) -> IndexEntry {
    IndexEntry {
        param: param.into(),
        value: token_value(system, code, text),
    }
}

fn date(param: &str, text: &str) -> IndexEntry {
    let (low, high) = date_range(text).unwrap();
    IndexEntry {
        param: param.into(),
        value: IndexValue::Date { low, high },
    }
}

fn num(param: &str, text: &str) -> IndexEntry {
    // A single value covers itself only (extraction does the same).
    let (value, _, _) = decimal_range(text).unwrap();
    IndexEntry {
        param: param.into(),
        value: IndexValue::Number {
            value,
            low: value,
            high: value,
        },
    }
}

fn qty_value(text: &str, system: Option<&str>, code: Option<&str>, unit: &str) -> IndexValue {
    let (value, _, _) = decimal_range(text).unwrap();
    IndexValue::Quantity {
        value,
        low: value,
        high: value,
        system: system.map(Into::into),
        code: code.map(Into::into),
        unit: Some(unit.into()),
    }
}

fn qty(
    param: &str,
    text: &str,
    system: Option<&str>,
    code: Option<&str>,
    unit: &str,
) -> IndexEntry {
    IndexEntry {
        param: param.into(),
        value: qty_value(text, system, code, unit),
    }
}

fn rf(param: &str, target_type: &str, id: &str) -> IndexEntry {
    IndexEntry {
        param: param.into(),
        value: IndexValue::Reference {
            target_type: Some(target_type.into()),
            id: Some(id.into()),
            url: format!("{target_type}/{id}"),
            version: None,
        },
    }
}

fn uri(param: &str, value: &str) -> IndexEntry {
    IndexEntry {
        param: param.into(),
        value: IndexValue::Uri {
            value: value.into(),
        },
    }
}

fn composite(param: &str, parts: Vec<IndexValue>) -> IndexEntry {
    IndexEntry {
        param: param.into(),
        value: IndexValue::Composite(parts),
    }
}

fn version(rtype: &str, id: &str, v: u64, t: i64) -> Version {
    Version {
        resource_type: rtype.into(),
        id: id.into(),
        version: v,
        last_updated: t,
        method: if v == 1 { Method::Post } else { Method::Put },
        body: Some(Bytes::from(format!(
            r#"{{"resourceType":"{rtype}","id":"{id}","meta":{{"versionId":"{v}"}}}}"#
        ))),
    }
}

fn create(rtype: &str, id: &str, t: i64, index: Vec<IndexEntry>) -> Write {
    Write {
        expected: None,
        version: version(rtype, id, 1, t),
        index,
    }
}

/// Version `v` of `id` (over version `v - 1`).
fn update(rtype: &str, id: &str, v: u64, t: i64, index: Vec<IndexEntry>) -> Write {
    Write {
        expected: Some(v - 1),
        version: version(rtype, id, v, t),
        index,
    }
}

/// The deletion of `id` as its version `v` (over version `v - 1`).
fn delete(rtype: &str, id: &str, v: u64, t: i64) -> Write {
    let mut del = version(rtype, id, v, t);
    del.method = Method::Delete;
    del.body = None;
    Write {
        expected: Some(v - 1),
        version: del,
        index: Vec::new(),
    }
}

// ---- fixture --------------------------------------------------------------------------------

/// Patients p1–p4, Observations o1–o3, RiskAssessments ra1–ra2, ValueSets vs1–vs3, with
/// `_lastUpdated` p1 1000 < o1 1500 < p2 2000 < o2 2500 < p3 3000 < o3 3500 < p4 4000 < others.
fn fixture() -> Vec<Write> {
    vec![
        create(
            "Patient",
            "p1",
            1000,
            vec![
                s("name", "Eve"),
                s("name", "Müller"),
                tok("gender", Some(GENDER), "female", None),
                tok(
                    "identifier",
                    Some(MRN),
                    "111",
                    Some("Medical record number"),
                ),
                date("birthdate", "1980"),
                rf("general-practitioner", "Practitioner", "d1"),
            ],
        ),
        create(
            "Patient",
            "p2",
            2000,
            vec![
                s("name", "Evelyn"),
                s("name", "Smith"),
                s("name", "Bob"),
                tok("gender", Some(GENDER), "male", None),
                tok("identifier", Some("http://other.org"), "111", None),
                date("birthdate", "1990-05-17"),
            ],
        ),
        create(
            "Patient",
            "p3",
            3000,
            vec![
                s("name", "Adam"),
                s("name", "Everett"),
                tok("gender", None, "female", None),
                tok("identifier", Some(MRN), "222", None),
            ],
        ),
        create(
            "Patient",
            "p4",
            4000,
            vec![s("name", "Zoë"), date("birthdate", "1980-06")],
        ),
        create(
            "Observation",
            "o1",
            1500,
            vec![
                tok(
                    "code",
                    Some(LOINC),
                    "8480-6",
                    Some("Systolic blood pressure"),
                ),
                tok("code", Some(LOINC), "8462-4", None),
                qty("value-quantity", "120", Some(UCUM), Some("mm[Hg]"), "mmHg"),
                rf("subject", "Patient", "p1"),
                date("date", "2020-01-01T10:00Z"),
                composite(
                    "code-value-quantity",
                    vec![
                        token_value(Some(LOINC), "8480-6", None),
                        qty_value("120", Some(UCUM), Some("mm[Hg]"), "mmHg"),
                    ],
                ),
                composite(
                    "code-value-quantity",
                    vec![
                        token_value(Some(LOINC), "8462-4", None),
                        qty_value("80", Some(UCUM), Some("mm[Hg]"), "mmHg"),
                    ],
                ),
            ],
        ),
        create(
            "Observation",
            "o2",
            2500,
            vec![
                tok("code", Some(LOINC), "8462-4", None),
                qty("value-quantity", "80", Some(UCUM), Some("mm[Hg]"), "mmHg"),
                rf("subject", "Patient", "p2"),
                composite(
                    "code-value-quantity",
                    vec![
                        token_value(Some(LOINC), "8462-4", None),
                        qty_value("80", Some(UCUM), Some("mm[Hg]"), "mmHg"),
                    ],
                ),
            ],
        ),
        create(
            "Observation",
            "o3",
            3500,
            vec![
                qty("value-quantity", "5.4", None, None, "mg"),
                IndexEntry {
                    param: "subject".into(),
                    value: IndexValue::Reference {
                        target_type: None,
                        id: None,
                        url: "http://ext.org/fhir/Patient/9".into(),
                        version: None,
                    },
                },
            ],
        ),
        create(
            "RiskAssessment",
            "ra1",
            5000,
            vec![num("probability", "0.25")],
        ),
        create(
            "RiskAssessment",
            "ra2",
            5100,
            vec![num("probability", "100")],
        ),
        create(
            "ValueSet",
            "vs1",
            6000,
            vec![uri("url", "http://acme.org/fhir/ValueSet/a")],
        ),
        create(
            "ValueSet",
            "vs2",
            6100,
            vec![uri("url", "http://acme.org/fhir/ValueSet/a/b")],
        ),
        create(
            "ValueSet",
            "vs3",
            6200,
            vec![uri("url", "http://acme.org/fhirx")],
        ),
    ]
}

async fn load(store: &dyn Store, partition: &Partition) {
    for w in fixture() {
        store.commit(partition, vec![w]).await.unwrap();
    }
}

async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = fhird::store::open(&format!("sqlite:{}", dir.path().display()))
        .await
        .unwrap();
    (store, dir)
}

async fn mongo_store() -> Arc<dyn Store> {
    fhird::store::open(&common::fresh_mongo_spec())
        .await
        .unwrap()
}

// ---- query builders -------------------------------------------------------------------------

fn query(types: &[&str], filters: Vec<StoreFilter>) -> StoreQuery {
    StoreQuery {
        resource_types: types.iter().map(|t| t.to_string()).collect(),
        filters,
        sort: Vec::new(),
        after: None,
        limit: 100,
    }
}

fn all(conds: Vec<Cond>) -> Vec<StoreFilter> {
    conds
        .into_iter()
        .map(|c| StoreFilter {
            any: vec![c],
            negate: false,
        })
        .collect()
}

fn one(types: &[&str], c: Cond) -> StoreQuery {
    query(types, all(vec![c]))
}

fn string(param: &str, mode: StringMode, value: &str) -> Cond {
    Cond::String {
        param: param.into(),
        mode,
        value: if mode == StringMode::Exact {
            value.into()
        } else {
            normalize_string(value)
        },
    }
}

fn token(param: &str, system: SystemMatch, code: Option<&str>) -> Cond {
    Cond::Token {
        param: param.into(),
        system,
        code: code.map(Into::into),
    }
}

fn date_cond(param: &str, prefix: Prefix, text: &str) -> Cond {
    let (low, high) = date_range(text).unwrap();
    Cond::Date {
        param: param.into(),
        prefix,
        low,
        high,
    }
}

fn number(param: &str, prefix: Prefix, text: &str) -> Cond {
    let (value, low, high) = decimal_range(text).unwrap();
    Cond::Number {
        param: param.into(),
        prefix,
        value,
        low,
        high,
    }
}

fn quantity(
    param: &str,
    prefix: Prefix,
    text: &str,
    system: Option<&str>,
    code: Option<&str>,
) -> Cond {
    let (value, low, high) = decimal_range(text).unwrap();
    Cond::Quantity {
        param: param.into(),
        prefix,
        value,
        low,
        high,
        system: system.map(Into::into),
        code: code.map(Into::into),
    }
}

fn reference(param: &str, target_type: Option<&str>, id: Option<&str>, url: Option<&str>) -> Cond {
    Cond::Reference {
        param: param.into(),
        target_type: target_type.map(Into::into),
        id: id.map(Into::into),
        url: url.map(Into::into),
        version: None,
    }
}

fn uri_cond(mode: UriMode, value: &str) -> Cond {
    Cond::Uri {
        param: "url".into(),
        mode,
        value: value.into(),
    }
}

fn cvq(code: &str, prefix: Prefix, value: &str) -> Cond {
    let mut q = quantity("1", prefix, value, None, None);
    if let Cond::Quantity { param, .. } = &mut q {
        *param = "1".into();
    }
    Cond::Composite {
        param: "code-value-quantity".into(),
        parts: vec![token("0", SystemMatch::Is(LOINC.into()), Some(code)), q],
    }
}

fn sorted(mut q: StoreQuery, key: SortKey, descending: bool) -> StoreQuery {
    q.sort.push(Sort { key, descending });
    q
}

fn by_param(param: &str, kind: ParamType) -> SortKey {
    SortKey::Param {
        param: param.into(),
        kind,
    }
}

async fn ids(store: &dyn Store, p: &Partition, q: &StoreQuery) -> Vec<String> {
    store
        .search(p, q)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.version.id)
        .collect()
}

const PATIENT: &[&str] = &["Patient"];
const OBS: &[&str] = &["Observation"];

/// Every query case: (name, query, expected ids in order).
/// The four patients (a filter, not a scan) by gender descending, then birthdate: both keys
/// may be absent, which MongoDB's own sort would rank first among ascending values.
fn by_gender_then_birthdate(limit: usize) -> StoreQuery {
    let mut q = sorted(
        sorted(
            one(
                PATIENT,
                Cond::Id(["p1", "p2", "p3", "p4"].map(String::from).to_vec()),
            ),
            by_param("gender", ParamType::Token),
            true,
        ),
        by_param("birthdate", ParamType::Date),
        false,
    );
    q.limit = limit;
    q
}

fn cases() -> Vec<(&'static str, StoreQuery, Vec<&'static str>)> {
    use Prefix::*;
    let mut c: Vec<(&'static str, StoreQuery, Vec<&'static str>)> = vec![
        // strings
        (
            "string starts-with",
            one(PATIENT, string("name", StringMode::StartsWith, "Eve")),
            vec!["p1", "p2", "p3"],
        ),
        (
            "string starts-with longer",
            one(PATIENT, string("name", StringMode::StartsWith, "evel")),
            vec!["p2"],
        ),
        (
            "string accent-folded",
            one(PATIENT, string("name", StringMode::StartsWith, "ZOE")),
            vec!["p4"],
        ),
        (
            "string contains",
            one(PATIENT, string("name", StringMode::Contains, "ret")),
            vec!["p3"],
        ),
        (
            "string contains folded",
            one(PATIENT, string("name", StringMode::Contains, "ll")),
            vec!["p1"],
        ),
        (
            "string exact",
            one(PATIENT, string("name", StringMode::Exact, "Müller")),
            vec!["p1"],
        ),
        (
            "string exact is case-sensitive",
            one(PATIENT, string("name", StringMode::Exact, "müller")),
            vec![],
        ),
        // `_filter`'s `eq`: the whole value, case- and accent-insensitively.
        (
            "string equals",
            one(PATIENT, string("name", StringMode::Equals, "MULLER")),
            vec!["p1"],
        ),
        (
            "string equals is not starts-with",
            one(PATIENT, string("name", StringMode::Equals, "mul")),
            vec![],
        ),
        // tokens
        (
            "token in",
            one(
                PATIENT,
                Cond::TokenIn {
                    param: "gender".into(),
                    codes: vec![
                        (GENDER.into(), vec!["male".into(), "other".into()]),
                        ("http://elsewhere".into(), vec!["female".into()]),
                    ],
                },
            ),
            vec!["p2"],
        ),
        (
            "token in, long list",
            one(
                PATIENT,
                Cond::TokenIn {
                    param: "gender".into(),
                    codes: vec![(
                        GENDER.into(),
                        (0..70)
                            .map(|i| format!("code-{i}"))
                            .chain(["female".to_string()])
                            .collect(),
                    )],
                },
            ),
            vec!["p1"],
        ),
        (
            "token code",
            one(PATIENT, token("gender", SystemMatch::Any, Some("female"))),
            vec!["p1", "p3"],
        ),
        (
            "token system|code",
            one(
                PATIENT,
                token("gender", SystemMatch::Is(GENDER.into()), Some("female")),
            ),
            vec!["p1"],
        ),
        (
            "token |code",
            one(PATIENT, token("gender", SystemMatch::None, Some("female"))),
            vec!["p3"],
        ),
        (
            "token system|",
            one(
                PATIENT,
                token("identifier", SystemMatch::Is(MRN.into()), None),
            ),
            vec!["p1", "p3"],
        ),
        (
            "token code in two systems",
            one(PATIENT, token("identifier", SystemMatch::Any, Some("111"))),
            vec!["p1", "p2"],
        ),
        (
            "token :text",
            one(
                PATIENT,
                Cond::TokenText {
                    param: "identifier".into(),
                    text: "medical rec".into(),
                },
            ),
            vec!["p1"],
        ),
        (
            "token :text no match",
            one(
                PATIENT,
                Cond::TokenText {
                    param: "identifier".into(),
                    text: "record".into(),
                },
            ),
            vec![],
        ),
        // dates (search.html prefixes on ranges)
        (
            "date eq year",
            one(PATIENT, date_cond("birthdate", Eq, "1980")),
            vec!["p1", "p4"],
        ),
        (
            "date eq month",
            one(PATIENT, date_cond("birthdate", Eq, "1980-06")),
            vec!["p4"],
        ),
        (
            "date ne",
            one(PATIENT, date_cond("birthdate", Ne, "1980")),
            vec!["p2"],
        ),
        (
            "date gt",
            one(PATIENT, date_cond("birthdate", Gt, "1980-06")),
            vec!["p1", "p2"],
        ),
        (
            "date lt",
            one(PATIENT, date_cond("birthdate", Lt, "1980-06")),
            vec!["p1"],
        ),
        (
            "date ge",
            one(PATIENT, date_cond("birthdate", Ge, "1980-06")),
            vec!["p1", "p2", "p4"],
        ),
        (
            "date le",
            one(PATIENT, date_cond("birthdate", Le, "1980-06")),
            vec!["p1", "p4"],
        ),
        (
            "date sa",
            one(PATIENT, date_cond("birthdate", Sa, "1980")),
            vec!["p2"],
        ),
        (
            "date eb",
            one(PATIENT, date_cond("birthdate", Eb, "1990")),
            vec!["p1", "p4"],
        ),
        (
            "date ap",
            one(PATIENT, date_cond("birthdate", Ap, "1990-05-17")),
            vec!["p2"],
        ),
        (
            "date eq minute with zone",
            one(OBS, date_cond("date", Eq, "2020-01-01T11:00+01:00")),
            vec!["o1"],
        ),
        // numbers
        (
            "number eq precision",
            one(&["RiskAssessment"], number("probability", Eq, "0.25")),
            vec!["ra1"],
        ),
        (
            "number eq integer",
            one(&["RiskAssessment"], number("probability", Eq, "100")),
            vec!["ra2"],
        ),
        (
            "number eq outside precision",
            one(&["RiskAssessment"], number("probability", Eq, "0.26")),
            vec![],
        ),
        (
            "number ne",
            one(&["RiskAssessment"], number("probability", Ne, "100")),
            vec!["ra1"],
        ),
        (
            "number gt",
            one(&["RiskAssessment"], number("probability", Gt, "0.5")),
            vec!["ra2"],
        ),
        (
            "number lt",
            one(&["RiskAssessment"], number("probability", Lt, "0.5")),
            vec!["ra1"],
        ),
        (
            "number ge",
            one(&["RiskAssessment"], number("probability", Ge, "100")),
            vec!["ra2"],
        ),
        (
            "number le",
            one(&["RiskAssessment"], number("probability", Le, "0.25")),
            vec!["ra1"],
        ),
        (
            "number sa",
            one(&["RiskAssessment"], number("probability", Sa, "0.25")),
            vec!["ra2"],
        ),
        (
            "number eb",
            one(&["RiskAssessment"], number("probability", Eb, "100")),
            vec!["ra1"],
        ),
        (
            "number ap",
            one(&["RiskAssessment"], number("probability", Ap, "0.24")),
            vec!["ra1"],
        ),
        // quantities
        (
            "quantity gt",
            one(OBS, quantity("value-quantity", Gt, "100", None, None)),
            vec!["o1"],
        ),
        (
            "quantity system and code",
            one(
                OBS,
                quantity("value-quantity", Eq, "80", Some(UCUM), Some("mm[Hg]")),
            ),
            vec!["o2"],
        ),
        (
            "quantity code matches unit",
            one(OBS, quantity("value-quantity", Eq, "5.4", None, Some("mg"))),
            vec!["o3"],
        ),
        (
            "quantity wrong system",
            one(
                OBS,
                quantity("value-quantity", Eq, "5.4", Some(UCUM), Some("mg")),
            ),
            vec![],
        ),
        (
            "quantity le",
            one(OBS, quantity("value-quantity", Le, "80", None, None)),
            vec!["o2", "o3"],
        ),
        // references
        (
            "reference type/id",
            one(OBS, reference("subject", Some("Patient"), Some("p1"), None)),
            vec!["o1"],
        ),
        (
            "reference id only",
            one(OBS, reference("subject", None, Some("p2"), None)),
            vec!["o2"],
        ),
        (
            "reference wrong type",
            one(OBS, reference("subject", Some("Group"), Some("p1"), None)),
            vec![],
        ),
        (
            "reference absolute url",
            one(
                OBS,
                reference("subject", None, None, Some("http://ext.org/fhir/Patient/9")),
            ),
            vec!["o3"],
        ),
        (
            "reference in",
            one(
                OBS,
                Cond::ReferenceIn {
                    param: "subject".into(),
                    targets: vec![
                        ("Patient".into(), "p2".into()),
                        ("Patient".into(), "p1".into()),
                    ],
                },
            ),
            vec!["o1", "o2"],
        ),
        (
            "reference in other type",
            one(
                OBS,
                Cond::ReferenceIn {
                    param: "subject".into(),
                    targets: vec![("Group".into(), "p1".into())],
                },
            ),
            vec![],
        ),
        // uris
        (
            "uri equals",
            one(
                &["ValueSet"],
                uri_cond(UriMode::Equals, "http://acme.org/fhir/ValueSet/a"),
            ),
            vec!["vs1"],
        ),
        (
            "uri below",
            one(
                &["ValueSet"],
                uri_cond(UriMode::Below, "http://acme.org/fhir"),
            ),
            vec!["vs1", "vs2", "vs3"],
        ),
        (
            "uri above",
            one(
                &["ValueSet"],
                uri_cond(UriMode::Above, "http://acme.org/fhir/ValueSet/a/v2"),
            ),
            vec!["vs1"],
        ),
        // composites: both parts on the same entry
        (
            "composite match",
            one(OBS, cvq("8480-6", Gt, "100")),
            vec!["o1"],
        ),
        (
            "composite parts on different entries",
            one(OBS, cvq("8462-4", Gt, "100")),
            vec![],
        ),
        (
            "composite two resources",
            one(OBS, cvq("8462-4", Lt, "100")),
            vec!["o1", "o2"],
        ),
        // missing, ids, _lastUpdated
        (
            "missing true",
            one(
                PATIENT,
                Cond::Missing {
                    param: "birthdate".into(),
                    kind: ParamType::Date,
                    missing: true,
                },
            ),
            vec!["p3"],
        ),
        (
            "missing false",
            one(
                PATIENT,
                Cond::Missing {
                    param: "birthdate".into(),
                    kind: ParamType::Date,
                    missing: false,
                },
            ),
            vec!["p1", "p2", "p4"],
        ),
        (
            "missing composite false",
            one(
                OBS,
                Cond::Missing {
                    param: "code-value-quantity".into(),
                    kind: ParamType::Composite,
                    missing: false,
                },
            ),
            vec!["o1", "o2"],
        ),
        (
            "_id",
            one(
                PATIENT,
                Cond::Id(vec!["p4".into(), "p2".into(), "nope".into()]),
            ),
            vec!["p2", "p4"],
        ),
        (
            "_has ids across types",
            one(
                &["Patient", "Observation"],
                Cond::IdIn(vec![
                    ("Patient".into(), "p3".into()),
                    ("Observation".into(), "o1".into()),
                ]),
            ),
            vec!["o1", "p3"],
        ),
        (
            "_lastUpdated ge",
            one(
                PATIENT,
                Cond::LastUpdated {
                    prefix: Ge,
                    low: 2000,
                    high: 2000,
                },
            ),
            vec!["p2", "p3", "p4"],
        ),
        (
            "_lastUpdated lt",
            one(
                PATIENT,
                Cond::LastUpdated {
                    prefix: Lt,
                    low: 3000,
                    high: 3000,
                },
            ),
            vec!["p1", "p2"],
        ),
        // combinations
        (
            "negate includes resources without the param",
            query(
                PATIENT,
                vec![StoreFilter {
                    any: vec![token("gender", SystemMatch::Any, Some("female"))],
                    negate: true,
                }],
            ),
            vec!["p2", "p4"],
        ),
        (
            "negate of two values",
            query(
                PATIENT,
                vec![StoreFilter {
                    any: vec![
                        token("gender", SystemMatch::Any, Some("female")),
                        token("gender", SystemMatch::Any, Some("male")),
                    ],
                    negate: true,
                }],
            ),
            vec!["p4"],
        ),
        (
            "values of one param are ORed",
            query(
                PATIENT,
                vec![StoreFilter {
                    any: vec![
                        token("gender", SystemMatch::Any, Some("male")),
                        string("name", StringMode::StartsWith, "zoe"),
                    ],
                    negate: false,
                }],
            ),
            vec!["p2", "p4"],
        ),
        (
            "filters are ANDed",
            query(
                PATIENT,
                all(vec![
                    token("gender", SystemMatch::Any, Some("female")),
                    date_cond("birthdate", Eq, "1980"),
                ]),
            ),
            vec!["p1"],
        ),
        (
            "every type, no filter",
            query(&[], vec![]),
            vec![
                "o1", "o2", "o3", "p1", "p2", "p3", "p4", "ra1", "ra2", "vs1", "vs2", "vs3",
            ],
        ),
        (
            "every type, _id",
            one(&[], Cond::Id(vec!["p1".into(), "o1".into()])),
            vec!["o1", "p1"],
        ),
        // sorting
        (
            "sort date asc by low, missing last",
            sorted(
                query(PATIENT, vec![]),
                by_param("birthdate", ParamType::Date),
                false,
            ),
            vec!["p1", "p4", "p2", "p3"],
        ),
        (
            "sort date desc by high, missing last",
            sorted(
                query(PATIENT, vec![]),
                by_param("birthdate", ParamType::Date),
                true,
            ),
            vec!["p2", "p1", "p4", "p3"],
        ),
        (
            "sort string asc by smallest",
            sorted(
                query(PATIENT, vec![]),
                by_param("name", ParamType::String),
                false,
            ),
            vec!["p3", "p2", "p1", "p4"],
        ),
        (
            "sort string desc by largest",
            sorted(
                query(PATIENT, vec![]),
                by_param("name", ParamType::String),
                true,
            ),
            vec!["p4", "p2", "p1", "p3"],
        ),
        (
            "sort token asc, ties by id",
            sorted(
                query(PATIENT, vec![]),
                by_param("gender", ParamType::Token),
                false,
            ),
            vec!["p1", "p3", "p2", "p4"],
        ),
        (
            "sort token desc, ties by id",
            sorted(
                query(PATIENT, vec![]),
                by_param("gender", ParamType::Token),
                true,
            ),
            vec!["p2", "p1", "p3", "p4"],
        ),
        (
            "sort _lastUpdated desc",
            sorted(query(PATIENT, vec![]), SortKey::LastUpdated, true),
            vec!["p4", "p3", "p2", "p1"],
        ),
        (
            "sort _id desc",
            sorted(query(PATIENT, vec![]), SortKey::Id, true),
            vec!["p4", "p3", "p2", "p1"],
        ),
        (
            "multi-type merged by _lastUpdated",
            sorted(
                query(&["Patient", "Observation"], vec![]),
                SortKey::LastUpdated,
                false,
            ),
            vec!["p1", "o1", "p2", "o2", "p3", "o3", "p4"],
        ),
        (
            "two sort keys that may be absent, filtered",
            by_gender_then_birthdate(100),
            vec!["p2", "p1", "p3", "p4"],
        ),
        (
            "two sort keys that may be absent, filtered, first two",
            by_gender_then_birthdate(2),
            vec!["p2", "p1"],
        ),
        (
            "sort with filter and limit",
            {
                let mut q = sorted(
                    one(PATIENT, token("gender", SystemMatch::Any, Some("female"))),
                    by_param("name", ParamType::String),
                    false,
                );
                q.limit = 1;
                q
            },
            vec!["p3"],
        ),
    ];
    // Chains resolve to long lists: more pairs than SQLite has statement parameters.
    let mut many: Vec<(String, String)> = (0..40_000)
        .map(|i| ("Patient".to_string(), format!("x{i}")))
        .collect();
    many.push(("Patient".into(), "p2".into()));
    many.push(("Group".into(), "p1".into()));
    c.push((
        "reference in, long list",
        one(
            OBS,
            Cond::ReferenceIn {
                param: "subject".into(),
                targets: many.clone(),
            },
        ),
        vec!["o2"],
    ));
    many.push(("Observation".into(), "o3".into()));
    c.push((
        "_has ids, long list",
        one(&["Patient", "Observation"], Cond::IdIn(many)),
        vec!["o3", "p2"],
    ));
    c.push((
        "_id, long list",
        one(
            PATIENT,
            Cond::Id((0..40_000).map(|i| format!("p{i}")).collect()),
        ),
        vec!["p1", "p2", "p3", "p4"],
    ));
    // Two-key sort: gender asc then birthdate desc.
    let mut q = sorted(
        query(PATIENT, vec![]),
        by_param("gender", ParamType::Token),
        false,
    );
    q.sort.push(Sort {
        key: by_param("birthdate", ParamType::Date),
        descending: true,
    });
    c.push(("sort by two keys", q, vec!["p1", "p3", "p2", "p4"]));
    c
}

// ---- tests ----------------------------------------------------------------------------------

async fn query_cases(store: &dyn Store) {
    let p = Partition::Default;
    load(store, &p).await;
    let cases = cases();
    assert!(cases.len() >= 60);
    let mut failures = Vec::new();
    for (name, q, expected) in &cases {
        let got = ids(store, &p, q).await;
        if got != *expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn sort_values_and_count(store: &dyn Store) {
    let p = Partition::Default;
    load(store, &p).await;
    let q = sorted(
        query(PATIENT, vec![]),
        by_param("birthdate", ParamType::Date),
        false,
    );
    let m = store.search(&p, &q).await.unwrap();
    let (y1980, _) = date_range("1980").unwrap();
    assert_eq!(m[0].sort, vec![SortValue::Int(y1980)]);
    assert_eq!(m[3].sort, vec![SortValue::Null]);
    let q = sorted(
        query(PATIENT, vec![]),
        by_param("name", ParamType::String),
        true,
    );
    let m = store.search(&p, &q).await.unwrap();
    assert_eq!(m[0].sort, vec![SortValue::Text("zoe".into())]);
    assert_eq!(
        m[0].version.body.as_deref().map(|b| b.len() > 10),
        Some(true)
    );
    let female = one(PATIENT, token("gender", SystemMatch::Any, Some("female")));
    assert_eq!(store.count(&p, &female).await.unwrap(), 2);
    assert_eq!(store.count(&p, &query(PATIENT, vec![])).await.unwrap(), 4);
    assert_eq!(store.count(&p, &query(&[], vec![])).await.unwrap(), 12);
}

fn cursor_after(m: &fhird::store::Match, backward: bool) -> Cursor {
    Cursor {
        values: m.sort.clone(),
        resource_type: m.version.resource_type.clone(),
        id: m.version.id.clone(),
        backward,
    }
}

async fn keyset_paging_with_inserts(store: &dyn Store) {
    let p = Partition::Default;
    load(store, &p).await;
    let mut q = sorted(
        query(PATIENT, vec![]),
        by_param("birthdate", ParamType::Date),
        false,
    );
    q.limit = 2;
    let page1 = store.search(&p, &q).await.unwrap();
    assert_eq!(
        page1
            .iter()
            .map(|m| m.version.id.as_str())
            .collect::<Vec<_>>(),
        ["p1", "p4"]
    );
    // p5 sorts after the cursor (2000), p0 before it (1970): only p5 may appear later.
    store
        .commit(
            &p,
            vec![
                create("Patient", "p5", 7000, vec![date("birthdate", "2000")]),
                create("Patient", "p0", 7001, vec![date("birthdate", "1970")]),
            ],
        )
        .await
        .unwrap();
    q.after = Some(cursor_after(&page1[1], false));
    let page2 = store.search(&p, &q).await.unwrap();
    assert_eq!(
        page2
            .iter()
            .map(|m| m.version.id.as_str())
            .collect::<Vec<_>>(),
        ["p2", "p5"]
    );
    q.after = Some(cursor_after(&page2[1], false));
    let page3 = store.search(&p, &q).await.unwrap();
    assert_eq!(
        page3
            .iter()
            .map(|m| m.version.id.as_str())
            .collect::<Vec<_>>(),
        ["p3"]
    );
    // After a resource without a value (the null section), only later ids of that section.
    q.after = Some(cursor_after(&page3[0], false));
    assert!(store.search(&p, &q).await.unwrap().is_empty());
    // Backward from p2: the page before it, in forward order.
    q.after = Some(cursor_after(&page2[0], true));
    assert_eq!(ids(store, &p, &q).await, ["p1", "p4"]);
    // Backward from the null section reaches the valued ones.
    q.after = Some(cursor_after(&page3[0], true));
    assert_eq!(ids(store, &p, &q).await, ["p2", "p5"]);
    // Descending keyset across types by _lastUpdated.
    let mut q = sorted(
        query(&["Patient", "Observation"], vec![]),
        SortKey::LastUpdated,
        true,
    );
    q.limit = 3;
    let first = store.search(&p, &q).await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|m| m.version.id.as_str())
            .collect::<Vec<_>>(),
        ["p0", "p5", "p4"]
    );
    q.after = Some(cursor_after(&first[2], false));
    assert_eq!(ids(store, &p, &q).await, ["o3", "p3", "o2"]);
    // Default order (type, id) with a cursor.
    let mut q = query(&[], vec![]);
    q.limit = 2;
    q.after = Some(Cursor {
        values: vec![],
        resource_type: "Observation".into(),
        id: "o3".into(),
        backward: false,
    });
    assert_eq!(ids(store, &p, &q).await, ["p0", "p1"]);
}

async fn read_many_current_only(store: &dyn Store) {
    let p = Partition::Default;
    load(store, &p).await;
    store
        .commit(&p, vec![delete("Patient", "p4", 2, 9000)])
        .await
        .unwrap();
    let refs: Vec<(String, String)> = [
        ("Patient", "p1"),
        ("Patient", "nope"),
        ("Observation", "o2"),
        ("Patient", "p4"),
    ]
    .iter()
    .map(|(t, i)| (t.to_string(), i.to_string()))
    .collect();
    let mut got: Vec<String> = store
        .read_many(&p, &refs)
        .await
        .unwrap()
        .into_iter()
        .map(|v| format!("{}/{}", v.resource_type, v.id))
        .collect();
    got.sort();
    assert_eq!(got, ["Observation/o2", "Patient/p1"]);
}

async fn update_replaces_and_delete_removes(store: &dyn Store) {
    let p = Partition::Default;
    load(store, &p).await;
    store
        .commit(
            &p,
            vec![update(
                "Patient",
                "p1",
                2,
                8000,
                vec![s("name", "Eve"), tok("gender", Some(GENDER), "male", None)],
            )],
        )
        .await
        .unwrap();
    let female = one(PATIENT, token("gender", SystemMatch::Any, Some("female")));
    let male = one(PATIENT, token("gender", SystemMatch::Any, Some("male")));
    assert_eq!(ids(store, &p, &female).await, ["p3"]);
    assert_eq!(ids(store, &p, &male).await, ["p1", "p2"]);
    let born = one(
        PATIENT,
        Cond::Missing {
            param: "birthdate".into(),
            kind: ParamType::Date,
            missing: true,
        },
    );
    assert_eq!(ids(store, &p, &born).await, ["p1", "p3"]);
    let hits = store.search(&p, &male).await.unwrap();
    assert_eq!(hits[0].version.version, 2);

    // Every kind of filter that finds p2, alone and ORed: after its deletion none may (MongoDB
    // tests liveness only where no filter needs index entries, which a deleted resource lacks).
    let had_p2 = [
        string("name", StringMode::StartsWith, "smi"),
        string("name", StringMode::Contains, "mit"),
        string("name", StringMode::Exact, "Bob"),
        string("name", StringMode::Equals, "bob"),
        token(
            "identifier",
            SystemMatch::Is("http://other.org".into()),
            Some("111"),
        ),
        token("identifier", SystemMatch::Any, Some("111")),
        date_cond("birthdate", Prefix::Eq, "1990-05"),
        Cond::Missing {
            param: "birthdate".into(),
            kind: ParamType::Date,
            missing: false,
        },
    ];
    for c in &had_p2 {
        let found = ids(store, &p, &one(PATIENT, c.clone())).await;
        assert!(found.contains(&"p2".to_string()), "{c:?}");
    }
    let any = query(
        PATIENT,
        vec![StoreFilter {
            any: had_p2.to_vec(),
            negate: false,
        }],
    );
    assert_eq!(ids(store, &p, &any).await, ["p2", "p4"]);

    store
        .commit(&p, vec![delete("Patient", "p2", 2, 9000)])
        .await
        .unwrap();
    assert_eq!(ids(store, &p, &male).await, ["p1"]);
    for c in &had_p2 {
        let found = ids(store, &p, &one(PATIENT, c.clone())).await;
        assert!(!found.contains(&"p2".to_string()), "{c:?}");
    }
    assert_eq!(ids(store, &p, &any).await, ["p4"]);
    // A deleted resource is gone from unfiltered and negated searches too.
    assert_eq!(
        ids(store, &p, &query(PATIENT, vec![])).await,
        ["p1", "p3", "p4"]
    );
    let not_female = query(
        PATIENT,
        vec![StoreFilter {
            any: vec![token("gender", SystemMatch::Any, Some("female"))],
            negate: true,
        }],
    );
    assert_eq!(ids(store, &p, &not_female).await, ["p1", "p4"]);
    assert_eq!(store.count(&p, &query(PATIENT, vec![])).await.unwrap(), 3);
    // Counted by `_lastUpdated`: each live resource once, whatever its versions.
    let since = one(
        PATIENT,
        Cond::LastUpdated {
            prefix: Prefix::Ge,
            low: 0,
            high: 0,
        },
    );
    assert_eq!(ids(store, &p, &since).await, ["p1", "p3", "p4"]);
    assert_eq!(store.count(&p, &since).await.unwrap(), 3);
    // `may_match`: true where a current resource holds one of the values (ORed), false
    // where none does, a deleted resource's values included.
    let p = &p;
    let may = |any: Vec<Cond>| async move { store.may_match(p, "Patient", &any).await.unwrap() };
    let other_111 = || {
        token(
            "identifier",
            SystemMatch::Is("http://other.org".into()),
            Some("111"),
        )
    };
    assert!(may(vec![token("gender", SystemMatch::Any, Some("male"))]).await);
    assert!(
        may(vec![
            token("gender", SystemMatch::Any, Some("nosuch")),
            token("gender", SystemMatch::Any, Some("female")),
        ])
        .await
    );
    // Not a key look-up on MongoDB: answered as a search.
    assert!(may(vec![string("name", StringMode::StartsWith, "eve")]).await);
    // p1's identifier went with its update, p2's with its deletion.
    assert!(!may(vec![token("identifier", SystemMatch::Any, Some("111"))]).await);
    assert!(!may(vec![token("gender", SystemMatch::Any, Some("nosuch"))]).await);
    assert!(!may(vec![other_111()]).await);
    assert!(!may(vec![]).await);
    assert!(!store
        .may_match(p, "Observation", &[other_111()])
        .await
        .unwrap());
}

async fn failed_commit_leaves_no_entries(store: &dyn Store) {
    let p = Partition::Default;
    load(store, &p).await;
    let result = store
        .commit(
            &p,
            vec![
                create("Patient", "ghost", 9000, vec![s("name", "Ghost")]),
                Write {
                    // p1 is at version 1: this precondition fails.
                    expected: Some(7),
                    version: version("Patient", "p1", 8, 9001),
                    index: vec![s("name", "Ghost")],
                },
            ],
        )
        .await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    let ghost = one(PATIENT, string("name", StringMode::StartsWith, "ghost"));
    assert!(ids(store, &p, &ghost).await.is_empty());
    assert!(store
        .current(&p, "Patient", "ghost")
        .await
        .unwrap()
        .is_none());
    let eve = one(PATIENT, string("name", StringMode::Exact, "Eve"));
    assert_eq!(ids(store, &p, &eve).await, ["p1"]);
}

/// `containers_of`: the types whose resources contain the type, with the most one held,
/// from the `_contained` slot markers of commits and reindexes, per partition, kept after a
/// deletion (a superset of what is stored now).
async fn containers_are_recorded(store: &dyn Store) {
    let p = Partition::Default;
    let payer = Partition::Payer("PAYC".into());
    let holds = |slot: &str, ty: &str| tok("_contained", Some(slot), ty, None);
    assert!(store
        .containers_of(&p, "Medication")
        .await
        .unwrap()
        .is_empty());
    store
        .commit(
            &p,
            vec![
                create(
                    "MedicationRequest",
                    "r1",
                    1000,
                    vec![holds("0", "Medication"), holds("1", "Medication")],
                ),
                create(
                    "CarePlan",
                    "c1",
                    1001,
                    vec![holds("0", "Goal"), holds("0", "Medication")],
                ),
            ],
        )
        .await
        .unwrap();
    // Fewer than recorded: the most stays.
    store
        .commit(
            &p,
            vec![create(
                "MedicationRequest",
                "r2",
                1003,
                vec![holds("0", "Medication")],
            )],
        )
        .await
        .unwrap();
    let containers =
        |p: Partition, ty: &'static str| async move { store.containers_of(&p, ty).await.unwrap() };
    let pairs = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
        v.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    };
    assert_eq!(
        containers(p.clone(), "Medication").await,
        pairs(&[("CarePlan", 1), ("MedicationRequest", 2)])
    );
    assert_eq!(
        containers(p.clone(), "Goal").await,
        pairs(&[("CarePlan", 1)])
    );
    // No prefix confusion between type names.
    assert!(containers(p.clone(), "Medic").await.is_empty());
    assert!(containers(payer.clone(), "Medication").await.is_empty());
    // More than recorded: raised.
    store
        .commit(
            &p,
            vec![update(
                "CarePlan",
                "c1",
                2,
                1004,
                vec![holds("0", "Goal"), holds("1", "Goal"), holds("2", "Goal")],
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        containers(p.clone(), "Goal").await,
        pairs(&[("CarePlan", 3)])
    );
    // A deletion keeps the record.
    store
        .commit(&p, vec![delete("CarePlan", "c1", 3, 1005)])
        .await
        .unwrap();
    assert_eq!(
        containers(p.clone(), "Goal").await,
        pairs(&[("CarePlan", 3)])
    );
    // A reindex records what its entries hold.
    store
        .commit(&payer, vec![create("List", "l1", 1006, vec![])])
        .await
        .unwrap();
    assert!(store
        .reindex(
            &payer,
            "List",
            "l1",
            1,
            vec![holds("0", "FamilyMemberHistory")]
        )
        .await
        .unwrap());
    assert_eq!(
        containers(payer, "FamilyMemberHistory").await,
        pairs(&[("List", 1)])
    );
}

async fn partitions_are_separate(store: &dyn Store) {
    let payer = Partition::Payer("PAY1".into());
    load(store, &Partition::Default).await;
    store
        .commit(
            &payer,
            vec![
                create("Patient", "p1", 100, vec![s("name", "Evert")]),
                create("Patient", "m1", 101, vec![s("name", "Eva")]),
            ],
        )
        .await
        .unwrap();
    let ev = one(PATIENT, string("name", StringMode::StartsWith, "ev"));
    assert_eq!(ids(store, &payer, &ev).await, ["m1", "p1"]);
    assert_eq!(
        ids(store, &Partition::Default, &ev).await,
        ["p1", "p2", "p3"]
    );
    let evert = one(PATIENT, string("name", StringMode::StartsWith, "evert"));
    assert!(ids(store, &Partition::Default, &evert).await.is_empty());
    assert_eq!(store.count(&payer, &query(&[], vec![])).await.unwrap(), 2);
    assert!(ids(store, &Partition::Payer("OTHER".into()), &ev)
        .await
        .is_empty());
}

/// Every search page in one order, following each page's cursor forward from the start, then
/// backward from the last match (pages backward come in forward order).
async fn every_page(
    store: &dyn Store,
    p: &Partition,
    q: &StoreQuery,
) -> (Vec<String>, Vec<String>) {
    let mut q = q.clone();
    let mut forward: Vec<fhird::store::Match> = Vec::new();
    loop {
        let page = store.search(p, &q).await.unwrap();
        assert!(page.len() <= q.limit);
        let Some(last) = page.last() else { break };
        q.after = Some(cursor_after(last, false));
        forward.extend(page);
    }
    let mut backward: Vec<String> = Vec::new();
    if let Some(last) = forward.last() {
        backward.push(last.version.id.clone());
        q.after = Some(cursor_after(last, true));
        loop {
            let page = store.search(p, &q).await.unwrap();
            let Some(first) = page.first() else { break };
            q.after = Some(cursor_after(first, true));
            let mut ids: Vec<String> = page.into_iter().map(|m| m.version.id).collect();
            ids.append(&mut backward);
            backward = ids;
        }
    }
    (
        forward.into_iter().map(|m| m.version.id).collect(),
        backward,
    )
}

/// The whole result of `q` is `expected`, and so is every page of each size in `limits`
/// joined, read forward and backward.
/// The order a sort by one key gives: values ascending or descending, absent ones last,
/// ties by id (or index) ascending.
fn key_order<K: Ord, I: Ord>(
    a: (&Option<K>, &I),
    b: (&Option<K>, &I),
    descending: bool,
) -> std::cmp::Ordering {
    match (a.0, b.0) {
        (Some(x), Some(y)) if x != y => {
            if descending {
                y.cmp(x)
            } else {
                x.cmp(y)
            }
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => a.1.cmp(b.1),
    }
}

/// Ids spread over the id space (their first three hex digits cycle through all 4,096), so
/// that MongoDB's `_id` windows cut through them.
fn spread_id(i: usize) -> String {
    format!("{:03x}-{i:05}", (i as u64 * 2_654_435_761) % 4_096)
}

/// Observations `spread_id(i)` for `i < n`, written at time 1,000 + i, with the LOINC code
/// `code(i)` and, where `year(i)` gives one, a date on the first day of year 1900 + it.
fn dated_observations(
    n: usize,
    code: impl Fn(usize) -> &'static str,
    year: impl Fn(usize) -> Option<usize>,
) -> Vec<Write> {
    (0..n)
        .map(|i| {
            let mut index = vec![tok("code", Some(LOINC), code(i), None)];
            if let Some(y) = year(i) {
                index.push(date("date", &format!("{}-01-01", 1_900 + y)));
            }
            create("Observation", &spread_id(i), 1_000 + i as i64, index)
        })
        .collect()
}

/// The ids of `(value, id)` pairs in the order of one sort key (`key_order`).
fn in_key_order(mut m: Vec<(Option<usize>, String)>, descending: bool) -> Vec<String> {
    m.sort_by(|a, b| key_order((&a.0, &a.1), (&b.0, &b.1), descending));
    m.into_iter().map(|(_, id)| id).collect()
}

async fn assert_paged(
    store: &dyn Store,
    p: &Partition,
    name: &str,
    q: &StoreQuery,
    expected: &[String],
    limits: &[usize],
) {
    let mut whole = q.clone();
    whole.limit = expected.len() + 1;
    assert_eq!(ids(store, p, &whole).await, expected, "{name}");
    for &limit in limits {
        let mut q = q.clone();
        q.limit = limit;
        let (forward, backward) = every_page(store, p, &q).await;
        assert_eq!(forward, expected, "{name}: forward pages of {limit}");
        assert_eq!(backward, expected, "{name}: backward pages of {limit}");
    }
}

/// Sorted by `_lastUpdated` (SQLite walks the history's time index when no filter is given,
/// MongoDB its `{t, _id}` index): every resource once, at its current version's time,
/// updated resources not at their earlier versions' times, deleted ones not at all, ties by
/// id in the direction of the time; with a filter, explicit ids, over two types, paged both
/// ways.
async fn last_updated_order(store: &dyn Store) {
    let p = Partition::Default;
    // e0..e9 at 100, 110, …; e3 and e4 share 130. e2 is updated at 500, e5 at 50 (an earlier
    // clock: the order is by time, not by write), e7 deleted; Condition c1 at 115.
    let mut writes: Vec<Write> = (0..10)
        .map(|i| {
            let t = if i == 4 { 130 } else { 100 + 10 * i as i64 };
            let code = if i % 2 == 0 { "even" } else { "odd" };
            create(
                "Observation",
                &format!("e{i}"),
                t,
                vec![tok("code", Some(LOINC), code, None)],
            )
        })
        .collect();
    writes.push(create(
        "Condition",
        "c1",
        115,
        vec![tok("code", Some(LOINC), "even", None)],
    ));
    store.commit(&p, writes).await.unwrap();
    for (id, t) in [("e2", 500), ("e5", 50)] {
        let code = if id == "e2" { "even" } else { "odd" };
        store
            .commit(
                &p,
                vec![update(
                    "Observation",
                    id,
                    2,
                    t,
                    vec![tok("code", Some(LOINC), code, None)],
                )],
            )
            .await
            .unwrap();
    }
    store
        .commit(&p, vec![delete("Observation", "e7", 2, 600)])
        .await
        .unwrap();
    // e3 and e4 tie at 130: by id, in the direction of `_lastUpdated`.
    let newest_first = ["e2", "e9", "e8", "e6", "e4", "e3", "e1", "e0", "e5"];
    let even = token("code", SystemMatch::Any, Some("even"));
    let cases: Vec<(&str, StoreQuery, Vec<&str>)> = vec![
        (
            "newest first",
            sorted(query(OBS, vec![]), SortKey::LastUpdated, true),
            newest_first.to_vec(),
        ),
        (
            "oldest first",
            sorted(query(OBS, vec![]), SortKey::LastUpdated, false),
            vec!["e5", "e0", "e1", "e3", "e4", "e6", "e8", "e9", "e2"],
        ),
        (
            "with a code",
            sorted(one(OBS, even.clone()), SortKey::LastUpdated, true),
            vec!["e2", "e8", "e6", "e4", "e0"],
        ),
        (
            "two types",
            sorted(
                one(&["Condition", "Observation"], even),
                SortKey::LastUpdated,
                true,
            ),
            vec!["e2", "e8", "e6", "e4", "c1", "e0"],
        ),
        (
            "explicit ids",
            sorted(
                one(OBS, Cond::Id(vec!["e0".into(), "e2".into(), "e7".into()])),
                SortKey::LastUpdated,
                true,
            ),
            vec!["e2", "e0"],
        ),
    ];
    for (name, q, expected) in cases {
        let expected: Vec<String> = expected.into_iter().map(String::from).collect();
        assert_paged(store, &p, name, &q, &expected, &[2, 3]).await;
    }
}

/// `_lastUpdated` order over times spread from the future (another clock) through seconds,
/// days and decades ago to the epoch: MongoDB reads such a page in widening `_lastUpdated`
/// windows from now or from the cursor (`mongo_windows::TimeWindows`), and every page, both
/// ways, must be the next resources in order, with a negated filter and a `_lastUpdated`
/// filter too.
async fn last_updated_windows(store: &dyn Store) {
    let p = Partition::Default;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let (sec, day) = (1_000_000_i64, 86_400_000_000_i64);
    let mut times: Vec<(String, i64)> = vec![("future".into(), now + 10 * sec)];
    times.extend((0..30).map(|i| (format!("s{i:02}"), now - i * 400_000)));
    times.extend((0..10).map(|i| (format!("d{i}"), now - 3 * day - i * 3_600 * sec)));
    times.extend((0..5).map(|i| (format!("y{i}"), now - (400 + 365 * i) * day)));
    times.push(("epoch".into(), 100));
    let code_of = |i: usize| {
        if i.is_multiple_of(3) {
            "third"
        } else {
            "other"
        }
    };
    let writes: Vec<Write> = times
        .iter()
        .enumerate()
        .map(|(i, (id, t))| {
            create(
                "Observation",
                id,
                *t,
                vec![tok("code", Some(LOINC), code_of(i), None)],
            )
        })
        .collect();
    store.commit(&p, writes).await.unwrap();
    let newest_first = |keep: &dyn Fn(usize, i64) -> bool| -> Vec<String> {
        let mut v: Vec<(i64, String)> = times
            .iter()
            .enumerate()
            .filter(|(i, (_, t))| keep(*i, *t))
            .map(|(_, (id, t))| (*t, id.clone()))
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|(_, id)| id).collect()
    };
    let not_third = StoreFilter {
        any: vec![token("code", SystemMatch::Any, Some("third"))],
        negate: true,
    };
    let since = now - 5 * day;
    let cases: Vec<(&str, StoreQuery, Vec<String>)> = vec![
        (
            "newest first",
            sorted(query(OBS, vec![]), SortKey::LastUpdated, true),
            newest_first(&|_, _| true),
        ),
        (
            "newest first, a negated filter",
            sorted(query(OBS, vec![not_third]), SortKey::LastUpdated, true),
            newest_first(&|i, _| code_of(i) != "third"),
        ),
        (
            "newest first since five days ago",
            sorted(
                one(
                    OBS,
                    Cond::LastUpdated {
                        prefix: Prefix::Ge,
                        low: since,
                        high: since,
                    },
                ),
                SortKey::LastUpdated,
                true,
            ),
            newest_first(&|_, t| t >= since),
        ),
    ];
    for (name, q, expected) in cases {
        assert_paged(store, &p, name, &q, &expected, &[2, 7]).await;
    }
}

/// Sorted by a date parameter (SQLite walks `ix_date` when no filter is given): each
/// resource once, at its earliest start ascending and its latest end descending, however many
/// dates it has (some equal), ties by id, resources without a date after all the others; with
/// a filter; paged both ways across the boundary to the dateless ones.
async fn date_sort_order(store: &dyn Store) {
    let p = Partition::Default;
    let dated = |id: &str, t: i64, dates: &[&str], code: &str| {
        let mut index: Vec<IndexEntry> = dates.iter().map(|d| date("date", d)).collect();
        index.push(tok("code", Some(LOINC), code, None));
        create("Observation", id, t, index)
    };
    let writes = vec![
        dated("a", 1, &["2020-03-01"], "x"),
        dated("b", 2, &["2019", "2021-06-01", "2019"], "y"),
        dated("c", 3, &["2020-03-01", "2020-03-01"], "x"),
        dated("d", 4, &["2022-01-01T10:00:00Z"], "y"),
        dated("e", 5, &[], "x"),
        dated("f", 6, &["2018-07"], "x"),
        dated("g", 7, &[], "y"),
    ];
    store.commit(&p, writes).await.unwrap();
    let by_date =
        |q: StoreQuery, descending: bool| sorted(q, by_param("date", ParamType::Date), descending);
    let x = token("code", SystemMatch::Any, Some("x"));
    let cases: Vec<(&str, StoreQuery, Vec<&str>)> = vec![
        // Starts: f 2018-07, b 2019, a = c 2020-03-01, d 2022; e, g none.
        (
            "ascending",
            by_date(query(OBS, vec![]), false),
            vec!["f", "b", "a", "c", "d", "e", "g"],
        ),
        // Ends: d 2022-01-01, b 2021-06-01, a = c 2020-03-01, f 2018-07.
        (
            "descending",
            by_date(query(OBS, vec![]), true),
            vec!["d", "b", "a", "c", "f", "e", "g"],
        ),
        (
            "descending with a code",
            by_date(one(OBS, x), true),
            vec!["a", "c", "f", "e"],
        ),
    ];
    for (name, q, expected) in cases {
        let expected: Vec<String> = expected.into_iter().map(String::from).collect();
        assert_paged(store, &p, name, &q, &expected, &[1, 2, 3, 4]).await;
    }
}

/// Sorted and default-order searches with filters whose matches are many (SQLite walks a
/// few thousand rows of the order, then sorts): 4,603 Observations, one date each (day i),
/// five sharing one date where a 4,000-row walk from the newest ends, three without a date.
/// Each case is checked against the order worked out here: dense matches (the walk
/// answers), matches whose 20th falls on the tied date at the walk's end (the walk must read
/// every tie: the ones past the 4,000th row come first by id), matches the walk does not
/// reach (the sort answers), pages that reach the dateless resources, the same by
/// `_lastUpdated` (resource i written at time i + 1) and by id, and number sorts (values
/// repeat every 1,000, ties by id), which are sorted, not walked.
async fn filtered_date_sorts(store: &dyn Store) {
    const N: usize = 4_600;
    const CONDITIONS: usize = 7;
    let p = Partition::Default;
    let day = |i: usize| 946_684_800_000_000i64 + i as i64 * 86_400_000_000;
    let tied = 598..=602;
    let newest = N - 17..N;
    let date_of = |i: usize| (i < N).then(|| if tied.contains(&i) { day(600) } else { day(i) });
    // Numbers repeat every 1,000 resources: ties, broken by id.
    let value_of = |i: usize| (i < N).then_some(i % 1_000);
    let codes = |i: usize| {
        let mut c = vec![if i.is_multiple_of(2) { "even" } else { "odd" }];
        if !(tied.contains(&i) || newest.contains(&i)) {
            c.push("plain");
        }
        if i >= 10 {
            c.push("plain3");
        }
        c
    };
    let writes: Vec<Write> = (0..N + 3)
        .map(|i| {
            let mut index: Vec<IndexEntry> = codes(i)
                .into_iter()
                .map(|c| tok("code", Some(LOINC), c, None))
                .collect();
            if let Some(d) = date_of(i) {
                index.push(IndexEntry {
                    param: "date".into(),
                    value: IndexValue::Date { low: d, high: d },
                });
            }
            if let Some(v) = value_of(i) {
                index.push(num("value", &v.to_string()));
            }
            create("Observation", &format!("o{i:04}"), i as i64 + 1, index)
        })
        .chain((0..CONDITIONS).map(|j| {
            // Newer than every Observation, with codes of both kinds.
            let index = vec![tok(
                "code",
                Some(LOINC),
                if j % 2 == 0 { "even" } else { "odd" },
                None,
            )];
            create("Condition", &format!("c{j}"), (N + 10 + j) as i64, index)
        }))
        .collect();
    store.commit(&p, writes).await.unwrap();
    // The matches ordered by `key` (resources without one last), ties by id.
    let ordered = |key: &dyn Fn(usize) -> Option<i64>,
                   matches: &dyn Fn(usize) -> bool,
                   descending: bool|
     -> Vec<String> {
        let mut m: Vec<usize> = (0..N + 3).filter(|&i| matches(i)).collect();
        m.sort_by(|&a, &b| key_order((&key(a), &a), (&key(b), &b), descending));
        m.into_iter().map(|i| format!("o{i:04}")).collect()
    };
    let by_value = |filters: Vec<StoreFilter>, descending: bool| {
        sorted(
            query(OBS, filters),
            by_param("value", ParamType::Number),
            descending,
        )
    };
    let expected =
        |matches: &dyn Fn(usize) -> bool, descending: bool| ordered(&date_of, matches, descending);
    let by_value_order = |matches: &dyn Fn(usize) -> bool, descending: bool| {
        ordered(&|i| value_of(i).map(|v| v as i64), matches, descending)
    };
    // Resource i was written at time i + 1.
    let by_time = |filters: Vec<StoreFilter>, descending: bool| {
        sorted(query(OBS, filters), SortKey::LastUpdated, descending)
    };
    let by_i = |matches: &dyn Fn(usize) -> bool, descending: bool| -> Vec<String> {
        let mut m: Vec<usize> = (0..N + 3).filter(|&i| matches(i)).collect();
        if descending {
            m.reverse();
        }
        m.into_iter().map(|i| format!("o{i:04}")).collect()
    };
    // Conditions and Observations: the Conditions that match are the newest.
    let both = |filters: Vec<StoreFilter>, descending: bool| {
        sorted(
            query(&["Condition", "Observation"], filters),
            SortKey::LastUpdated,
            descending,
        )
    };
    let with_conditions = |matches: &dyn Fn(usize) -> bool, even: bool, descending: bool| {
        let mut m = by_i(matches, false);
        m.extend(
            (0..CONDITIONS)
                .filter(|j| (j % 2 == 0) == even)
                .map(|j| format!("c{j}")),
        );
        if descending {
            m.reverse();
        }
        m
    };
    let by_date = |filters: Vec<StoreFilter>, descending: bool| {
        sorted(
            query(OBS, filters),
            by_param("date", ParamType::Date),
            descending,
        )
    };
    let code = |c: &str| token("code", SystemMatch::Any, Some(c));
    let not = |c: &str| StoreFilter {
        any: vec![code(c)],
        negate: true,
    };
    let is = |c: &str| StoreFilter {
        any: vec![code(c)],
        negate: false,
    };
    let cases: Vec<(&str, StoreQuery, Vec<String>, &[usize])> = vec![
        (
            "a common code, newest first",
            by_date(vec![is("even")], true),
            expected(&|i| i.is_multiple_of(2), true),
            &[20, 700],
        ),
        (
            "a common code, oldest first",
            by_date(vec![is("even")], false),
            expected(&|i| i.is_multiple_of(2), false),
            &[20, 700],
        ),
        (
            "a negated code, newest first",
            by_date(vec![not("odd")], true),
            expected(&|i| i.is_multiple_of(2), true),
            &[700],
        ),
        (
            "the page's last match on the date tied at the walk's end",
            by_date(vec![not("plain")], true),
            expected(&|i| !codes(i).contains(&"plain"), true),
            &[20, 3],
        ),
        (
            "matches beyond the walk",
            by_date(vec![not("plain3")], true),
            expected(&|i| i < 10, true),
            &[20, 4],
        ),
        (
            "a common code, last updated first",
            by_time(vec![is("even")], true),
            by_i(&|i| i.is_multiple_of(2), true),
            &[20, 700],
        ),
        (
            "a common code, first updated first",
            by_time(vec![is("even")], false),
            by_i(&|i| i.is_multiple_of(2), false),
            &[20],
        ),
        (
            "a common code by a number, smallest first",
            by_value(vec![is("even")], false),
            by_value_order(&|i| i.is_multiple_of(2), false),
            &[20, 700],
        ),
        (
            "a common code by a number, largest first",
            by_value(vec![is("even")], true),
            by_value_order(&|i| i.is_multiple_of(2), true),
            &[20],
        ),
        (
            "a common code in the default order",
            query(OBS, vec![is("even")]),
            by_i(&|i| i.is_multiple_of(2), false),
            &[20, 700],
        ),
        (
            "a negated code in the default order",
            query(OBS, vec![not("odd")]),
            by_i(&|i| i.is_multiple_of(2), false),
            &[20],
        ),
        (
            "matches mostly past the walk in the default order",
            query(OBS, vec![not("plain")]),
            by_i(&|i| !codes(i).contains(&"plain"), false),
            &[20, 3],
        ),
        (
            "updated long before the walk's end",
            by_time(vec![not("plain3")], true),
            by_i(&|i| i < 10, true),
            &[20, 4],
        ),
        (
            "two types, a common code, last updated first",
            both(vec![is("even")], true),
            with_conditions(&|i| i.is_multiple_of(2), true, true),
            &[20, 3, 700],
        ),
        (
            "two types, a common code, first updated first",
            both(vec![is("odd")], false),
            with_conditions(&|i| !i.is_multiple_of(2), false, false),
            &[20, 700],
        ),
        (
            "two types, updated long before the walk's end",
            both(vec![not("plain3"), not("odd")], true),
            with_conditions(&|i| i < 10 && i.is_multiple_of(2), true, true),
            &[20, 4],
        ),
    ];
    for (name, q, expected, limits) in cases {
        let mut first = q.clone();
        first.limit = 20;
        let want: Vec<String> = expected.iter().take(20).cloned().collect();
        assert_eq!(ids(store, &p, &first).await, want, "{name}: first page");
        assert_paged(store, &p, name, &q, &expected, limits).await;
    }
}

/// Long key ranges (one patient's 600 Observations, a code most of them have) with ids spread
/// over the whole id space as server-assigned UUIDs are, plus client-chosen ids: MongoDB reads
/// such a page in `_id` windows, and whatever the windows, every page must be the next matches
/// in id order, forward and backward, with a resource past the key cap (found through its
/// marker) in its place.
async fn long_key_ranges(store: &dyn Store) {
    let p = Partition::Default;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 11
    };
    let mut ids: Vec<String> = (0..600)
        .map(|_| {
            let (a, b) = (next(), next());
            format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                a >> 21,
                a & 0xffff,
                (a >> 16) & 0xfff,
                b & 0xfff,
                b >> 12 & 0xffff_ffff_ffff
            )
        })
        .collect();
    ids.extend(["-x", "0", "A1", "Zulu.1", "example", "ff", "zz9"].map(String::from));
    // Observation i: year 2000 + i % 25, code "frequent" unless i % 10 == 0 ("rare"), and
    // Patient/pw as subject except every 7th (Patient/other).
    let year = |i: usize| 2000 + (i % 25) as i32;
    let code_of = |i: usize| {
        if i.is_multiple_of(10) {
            "rare"
        } else {
            "frequent"
        }
    };
    let subject_of = |i: usize| if i.is_multiple_of(7) { "other" } else { "pw" };
    let mut writes: Vec<Write> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            create(
                "Observation",
                id,
                10_000 + i as i64,
                vec![
                    rf("subject", "Patient", subject_of(i)),
                    tok("code", Some(LOINC), code_of(i), None),
                    date("date", &format!("{}-06-01", year(i))),
                ],
            )
        })
        .collect();
    // Past the key cap: its codes lose their keys for the marker.
    let mut capped: Vec<IndexEntry> = (0..9_000)
        .map(|i| tok("code", Some(LOINC), &format!("{i}-0"), None))
        .collect();
    capped.push(tok("code", Some(LOINC), "frequent", None));
    capped.push(rf("subject", "Patient", "pw"));
    capped.push(date("date", "2024-06-01"));
    writes.push(create("Observation", "7capped", 9_999, capped));
    for chunk in writes.chunks(100) {
        store.commit(&p, chunk.to_vec()).await.unwrap();
    }
    let n = ids.len();
    let expect = |keep: &dyn Fn(usize) -> bool, capped: bool| {
        let mut v: Vec<String> = (0..n)
            .filter(|i| keep(*i))
            .map(|i| ids[i].clone())
            .collect();
        if capped {
            v.push("7capped".into());
        }
        v.sort();
        v
    };
    let subject = || reference("subject", Some("Patient"), Some("pw"), None);
    let code = |c: &str| token("code", SystemMatch::Is(LOINC.into()), Some(c));
    let cases: Vec<(&str, Vec<Cond>, Vec<String>)> = vec![
        (
            "patient",
            vec![subject()],
            expect(&|i| subject_of(i) == "pw", true),
        ),
        (
            "patient and date",
            vec![subject(), date_cond("date", Prefix::Ge, "2020")],
            expect(&|i| subject_of(i) == "pw" && year(i) >= 2020, true),
        ),
        (
            "patient and a date few have",
            vec![subject(), date_cond("date", Prefix::Ge, "2024")],
            expect(&|i| subject_of(i) == "pw" && year(i) >= 2024, true),
        ),
        (
            "code",
            vec![code("frequent")],
            expect(&|i| code_of(i) == "frequent", true),
        ),
        (
            "patient and code",
            vec![subject(), code("rare")],
            expect(&|i| subject_of(i) == "pw" && code_of(i) == "rare", false),
        ),
        (
            "nothing",
            vec![subject(), date_cond("date", Prefix::Ge, "2030")],
            Vec::new(),
        ),
        // No filter: MongoDB reads the whole collection in finer `_id` windows.
        ("every one", Vec::new(), expect(&|_| true, true)),
    ];
    let not_frequent = StoreFilter {
        any: vec![code("frequent")],
        negate: true,
    };
    let cases = cases
        .into_iter()
        .map(|(name, conds, expected)| (name, all(conds), expected));
    // Two codes ORed: MongoDB windows each key's range (an `$or` of keys, each with the
    // window's far bound).
    let either = StoreFilter {
        any: vec![code("rare"), code("frequent")],
        negate: false,
    };
    let cases = cases.chain([
        (
            "not the frequent code",
            vec![not_frequent],
            expect(&|i| code_of(i) != "frequent", false),
        ),
        ("either code", vec![either], expect(&|_| true, true)),
    ]);
    for (name, filters, expected) in cases {
        let q = query(OBS, filters);
        assert_eq!(
            store.count(&p, &q).await.unwrap(),
            expected.len() as u64,
            "{name}: count"
        );
        assert_paged(store, &p, name, &q, &expected, &[7, 50]).await;
    }
}

/// Two date filters on one parameter (`date=geX&date=ltY`), each matching most resources
/// alone: SQLite drives such a search from the window their bounds put on each resource's
/// hull of dates. A resource satisfies the two filters through one value or through two (one
/// before the window, one after), with instants, days, years, Periods open at either end,
/// updated (the old dates no longer count) and deleted resources; paged both ways, counted.
async fn date_windows(store: &dyn Store) {
    let p = Partition::Default;
    let range = |low: i64, high: i64| IndexEntry {
        param: "date".into(),
        value: IndexValue::Date { low, high },
    };
    let day = |d: &str| date_range(d).unwrap();
    let obs = |id: &str, t: i64, index: Vec<IndexEntry>| create("Observation", id, t, index);
    let writes = vec![
        obs("a-inside", 1, vec![date("date", "2020-03-15")]),
        obs("b-before", 2, vec![date("date", "2020-02-28")]),
        obs("c-after", 3, vec![date("date", "2020-04-02T08:00:00Z")]),
        obs(
            "d-split",
            4,
            vec![date("date", "2019-01-01"), date("date", "2021-01-01")],
        ),
        obs("e-span", 5, vec![range(day("2019").0, day("2022").1)]),
        obs("f-open-end", 6, vec![range(day("2018-05-01").0, i64::MAX)]),
        obs(
            "g-open-start",
            7,
            vec![range(i64::MIN, day("2019-06-01").1)],
        ),
        obs("h-year", 8, vec![date("date", "2020")]),
        obs("i-none", 9, vec![tok("code", Some(LOINC), "x", None)]),
        obs("j-deleted", 10, vec![date("date", "2020-03-10")]),
        obs("k-moved-out", 11, vec![date("date", "2020-03-10")]),
        obs("l-moved-in", 12, vec![date("date", "2015-06-01")]),
        obs(
            "m-instant",
            13,
            vec![date("date", "2020-03-31T23:59:59.999999Z")],
        ),
        obs(
            "n-far",
            14,
            vec![date("date", "2005-01-01"), date("date", "2031-01-01")],
        ),
    ];
    store.commit(&p, writes).await.unwrap();
    let update = |id: &str, t: i64, d: &str| Write {
        expected: Some(1),
        version: version("Observation", id, 2, t),
        index: vec![date("date", d)],
    };
    store
        .commit(
            &p,
            vec![
                delete("Observation", "j-deleted", 2, 20),
                update("k-moved-out", 21, "2015-06-01"),
                update("l-moved-in", 22, "2020-03-20"),
            ],
        )
        .await
        .unwrap();
    let d = |prefix: Prefix, text: &str| date_cond("date", prefix, text);
    let either = |a: Cond, b: Cond| StoreFilter {
        any: vec![a, b],
        negate: false,
    };
    // Every resource with a date in March 2020, or dates on both sides of it, or a range
    // over it: what ge/lt and gt/le at day and month precision both select.
    let overlapping = vec![
        "a-inside",
        "d-split",
        "e-span",
        "f-open-end",
        "h-year",
        "l-moved-in",
        "m-instant",
        "n-far",
    ];
    let cases: Vec<(&str, StoreQuery, Vec<&str>)> = vec![
        (
            "ge and lt: one value inside, or one value on each side, or a range over the window",
            query(OBS, all(vec![d(Prefix::Ge, "2020-03-01"), d(Prefix::Lt, "2020-04-01")])),
            overlapping.clone(),
        ),
        (
            "sa and eb: the split resource starts after through one value and ends before through the other",
            query(OBS, all(vec![d(Prefix::Sa, "2020-03-01"), d(Prefix::Eb, "2020-04-01")])),
            vec!["a-inside", "d-split", "l-moved-in", "m-instant", "n-far"],
        ),
        (
            "gt and le at month precision",
            query(OBS, all(vec![d(Prefix::Gt, "2020-02"), d(Prefix::Le, "2020-03")])),
            overlapping.clone(),
        ),
        (
            "an OR in one filter takes its loosest bound",
            query(
                OBS,
                vec![
                    either(d(Prefix::Lt, "2019-06-01"), d(Prefix::Lt, "2020-03-01")),
                    StoreFilter { any: vec![d(Prefix::Ge, "2020-02-01")], negate: false },
                ],
            ),
            vec!["b-before", "d-split", "e-span", "f-open-end", "h-year", "n-far"],
        ),
        (
            "an empty window that values on both sides of it reach",
            query(OBS, all(vec![d(Prefix::Ge, "2030-01-01"), d(Prefix::Lt, "2010-01-01")])),
            vec!["n-far"],
        ),
        (
            "with another filter",
            query(
                OBS,
                all(vec![
                    d(Prefix::Ge, "2020-03-01"),
                    d(Prefix::Lt, "2020-04-01"),
                    Cond::Id(vec!["a-inside".into(), "b-before".into(), "e-span".into()]),
                ]),
            ),
            vec!["a-inside", "e-span"],
        ),
    ];
    for (name, q, expected) in cases {
        let expected: Vec<String> = expected.into_iter().map(String::from).collect();
        assert_paged(store, &p, name, &q, &expected, &[1, 3]).await;
        assert_eq!(
            store.count(&p, &q).await.unwrap(),
            expected.len() as u64,
            "count: {name}"
        );
    }
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _dir) = super::sqlite_store().await;
                super::$name(&*store).await;
                store.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mongodb() {
                let store = super::mongo_store().await;
                super::$name(&*store).await;
                store.close().await;
            }
        }
    )*};
}

fn position(lat: f64, lng: f64) -> IndexEntry {
    IndexEntry {
        param: "near".into(),
        value: IndexValue::Position { lat, lng },
    }
}

fn near(lat: f64, lng: f64, km: f64) -> Cond {
    Cond::Near {
        param: "near".into(),
        lat,
        lng,
        km,
    }
}

/// Locations for `near` (distances by the haversine formula, R = 6,371.0088 km): Ann Arbor
/// (aa) and Detroit (det), 57.6 km apart; `band`, at Ann Arbor's latitude on the other side
/// of the globe (inside the latitude band, outside every distance here); points 10.6 km apart
/// across the antimeridian (fiji-e, fiji-w) and 11.1 km apart across the north pole (pole-a,
/// pole-b); f00–f29 within 2.7 km of Oslo; `moved` from Ann Arbor to 0, 0; `gone` at Ann
/// Arbor, deleted; `nopos` without a position.
async fn near_positions(store: &dyn Store) {
    let p = Partition::Default;
    let (aa, det) = ((42.2808, -83.7430), (42.3314, -83.0458));
    let loc = |id: &str, t: i64, at: Option<(f64, f64)>| {
        let index = at
            .map(|(lat, lng)| position(lat, lng))
            .into_iter()
            .collect();
        create("Location", id, t, index)
    };
    let mut writes = vec![
        loc("aa", 10, Some(aa)),
        loc("det", 11, Some(det)),
        loc("band", 12, Some((aa.0, 100.0))),
        loc("fiji-e", 13, Some((-17.0, 179.95))),
        loc("fiji-w", 14, Some((-17.0, -179.95))),
        loc("pole-a", 15, Some((89.95, 0.0))),
        loc("pole-b", 16, Some((89.95, 180.0))),
        loc("moved", 17, Some(aa)),
        loc("gone", 18, Some(aa)),
        loc("nopos", 19, None),
    ];
    // f00–f29 on a spiral around Oslo, 0.09 to 2.7 km away (a degree of latitude is
    // 111.2 km).
    let oslo = (59.91, 10.75);
    for i in 0..30 {
        let (r, a) = (0.09 * (i as f64 + 1.0) / 111.2, i as f64);
        let at = (
            oslo.0 + r * a.sin(),
            oslo.1 + r * a.cos() / oslo.0.to_radians().cos(),
        );
        writes.push(loc(&format!("f{i:02}"), 20 + i, Some(at)));
    }
    for w in writes {
        store.commit(&p, vec![w]).await.unwrap();
    }
    store
        .commit(
            &p,
            vec![update(
                "Location",
                "moved",
                2,
                100,
                vec![position(0.0, 0.0)],
            )],
        )
        .await
        .unwrap();
    store
        .commit(&p, vec![delete("Location", "gone", 2, 101)])
        .await
        .unwrap();
    let locations = &["Location"];
    let fillers: Vec<String> = (0..30).map(|i| format!("f{i:02}")).collect();
    let with = |first: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = first.iter().map(|s| s.to_string()).collect();
        v.extend(fillers.iter().cloned());
        v.sort();
        v
    };
    let cases: Vec<(&str, StoreQuery, Vec<String>)> = vec![
        (
            "3 km of Oslo",
            one(locations, near(oslo.0, oslo.1, 3.0)),
            with(&[]),
        ),
        (
            "3 km of Ann Arbor",
            one(locations, near(aa.0, aa.1, 3.0)),
            vec!["aa".into()],
        ),
        (
            "57.5 km of Detroit: not Ann Arbor's",
            one(locations, near(det.0, det.1, 57.5)),
            vec!["det".into()],
        ),
        (
            "57.7 km of Detroit",
            one(locations, near(det.0, det.1, 57.7)),
            vec!["aa".into(), "det".into()],
        ),
        (
            "distance 0 is the point itself",
            one(locations, near(det.0, det.1, 0.0)),
            vec!["det".into()],
        ),
        (
            "across the antimeridian",
            one(locations, near(-17.0, 179.95, 11.0)),
            vec!["fiji-e".into(), "fiji-w".into()],
        ),
        (
            "not quite across the antimeridian",
            one(locations, near(-17.0, 179.95, 10.0)),
            vec!["fiji-e".into()],
        ),
        (
            "over the pole",
            one(locations, near(89.95, 0.0, 11.5)),
            vec!["pole-a".into(), "pole-b".into()],
        ),
        (
            // Too wide for grid cells on MongoDB: the latitude band alone. From 0, 0: Oslo
            // 6,726 km, Detroit 9,437, Ann Arbor 9,493, the pole 10,002, `band` 10,828.
            "9,450 km of 0, 0",
            one(locations, near(0.0, 0.0, 9_450.0)),
            with(&["det", "moved"]),
        ),
        (
            "ORed centres",
            StoreQuery {
                filters: vec![StoreFilter {
                    any: vec![near(det.0, det.1, 1.0), near(-17.0, -179.95, 1.0)],
                    negate: false,
                }],
                ..query(locations, vec![])
            },
            vec!["det".into(), "fiji-w".into()],
        ),
        (
            "ANDed with an id",
            query(
                locations,
                all(vec![
                    near(oslo.0, oslo.1, 3.0),
                    Cond::Id(vec!["aa".into(), "f07".into()]),
                ]),
            ),
            vec!["f07".into()],
        ),
        (
            "negated",
            StoreQuery {
                filters: vec![StoreFilter {
                    any: vec![near(oslo.0, oslo.1, 3.0)],
                    negate: true,
                }],
                ..query(locations, vec![])
            },
            [
                "aa", "band", "det", "fiji-e", "fiji-w", "moved", "nopos", "pole-a", "pole-b",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "missing",
            one(
                locations,
                Cond::Missing {
                    param: "near".into(),
                    kind: ParamType::Special,
                    missing: true,
                },
            ),
            vec!["nopos".into()],
        ),
    ];
    for (name, q, want) in &cases {
        assert_paged(store, &p, name, q, want, &[1, 7]).await;
        assert_eq!(
            store.count(&p, q).await.unwrap(),
            want.len() as u64,
            "{name}: count"
        );
    }
}

/// Range values (Condition.onset as Range of ages) against search.html's prefix rules for
/// ranges: c-range covers 2..8 a, c-point is 5 a, c-open is "up to 3 a" (no low).
async fn range_values(store: &dyn Store) {
    let p = Partition::Default;
    let range = |id: &str, t: i64, low: f64, high: f64| {
        create(
            "Condition",
            id,
            t,
            vec![IndexEntry {
                param: "onset-age".into(),
                value: IndexValue::Quantity {
                    value: (low.max(-1e9) + high) / 2.0,
                    low,
                    high,
                    system: Some(UCUM.into()),
                    code: Some("a".into()),
                    unit: Some("years".into()),
                },
            }],
        )
    };
    for w in [
        range("c-range", 9000, 2.0, 8.0),
        create(
            "Condition",
            "c-point",
            9100,
            vec![qty("onset-age", "5", Some(UCUM), Some("a"), "years")],
        ),
        range("c-open", 9200, f64::MIN, 3.0),
    ] {
        store.commit(&p, vec![w]).await.unwrap();
    }
    use Prefix::*;
    let expect = [
        // eq: the search range [4.5, 5.5) must contain the entry: only the single value.
        (Eq, "5", vec!["c-point"]),
        (Ne, "5", vec!["c-open", "c-range"]),
        // gt: the entry reaches above 5: the range (to 8); the open one ends at 3.
        (Gt, "5", vec!["c-range"]),
        (Ge, "8", vec!["c-range"]),
        // lt: the entry reaches below 2: only the open range (2 itself is not below 2).
        (Lt, "2", vec!["c-open"]),
        (Le, "2", vec!["c-open", "c-range"]),
        // sa / eb: wholly above 1 / wholly below 4.
        (Sa, "1", vec!["c-point", "c-range"]),
        (Eb, "4", vec!["c-open"]),
        (Eb, "9", vec!["c-open", "c-point", "c-range"]),
        // ap: overlaps 5 ± 10 %.
        (Ap, "5", vec!["c-point", "c-range"]),
        (Ap, "10", vec![]),
    ];
    for (prefix, text, want) in expect {
        let q = one(
            &["Condition"],
            quantity("onset-age", prefix, text, Some(UCUM), Some("a")),
        );
        assert_eq!(ids(store, &p, &q).await, want, "{prefix:?}{text}");
    }
    // Sorted by the low end ascending (open first), by the high end descending.
    for (descending, want) in [
        (false, ["c-open", "c-range", "c-point"]),
        (true, ["c-range", "c-point", "c-open"]),
    ] {
        let q = sorted(
            query(&["Condition"], vec![]),
            by_param("onset-age", ParamType::Quantity),
            descending,
        );
        let got: Vec<String> = store
            .search(&p, &q)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.version.id)
            .collect();
        assert_eq!(got, want, "descending: {descending}");
    }
}

/// A resource with more values than a document can carry as match keys on MongoDB (a ValueSet
/// listing 9,000 codes): its widest parameter is searched through the entry arrays instead,
/// and every form of search still finds it, and only it.
async fn very_wide_resources(store: &dyn Store) {
    let p = Partition::Default;
    let mut wide: Vec<IndexEntry> = (0..9_000)
        .map(|i| tok("code", Some(LOINC), &format!("{i}-0"), None))
        .collect();
    wide.push(s("name", "Wide"));
    wide.push(uri("url", "http://example.org/vs/wide"));
    let narrow = vec![
        tok("code", Some(LOINC), "8999-0", None),
        tok("code", Some(LOINC), "7-0", None),
        s("name", "Narrow"),
    ];
    store
        .commit(
            &p,
            vec![
                create("ValueSet", "wide", 10, wide),
                create("ValueSet", "narrow", 11, narrow),
            ],
        )
        .await
        .unwrap();
    let vs = &["ValueSet"];
    let code = |system, code| one(vs, token("code", system, Some(code)));
    assert_eq!(
        ids(store, &p, &code(SystemMatch::Any, "8999-0")).await,
        ["narrow", "wide"]
    );
    assert_eq!(
        ids(store, &p, &code(SystemMatch::Is(LOINC.into()), "8998-0")).await,
        ["wide"]
    );
    assert!(ids(store, &p, &code(SystemMatch::None, "8998-0"))
        .await
        .is_empty());
    assert!(ids(store, &p, &code(SystemMatch::Any, "9000-0"))
        .await
        .is_empty());
    let codes_in = one(
        vs,
        Cond::TokenIn {
            param: "code".into(),
            codes: vec![(LOINC.into(), vec!["7-0".into(), "12-0".into()])],
        },
    );
    assert_eq!(ids(store, &p, &codes_in).await, ["narrow", "wide"]);
    let not_12 = query(
        vs,
        vec![StoreFilter {
            any: vec![token("code", SystemMatch::Any, Some("12-0"))],
            negate: true,
        }],
    );
    assert_eq!(ids(store, &p, &not_12).await, ["narrow"]);
    assert_eq!(
        store
            .count(&p, &code(SystemMatch::Any, "7-0"))
            .await
            .unwrap(),
        2
    );
    // The resource's other parameters keep their keys.
    let by_url = query(
        vs,
        vec![StoreFilter {
            any: vec![Cond::Uri {
                param: "url".into(),
                mode: UriMode::Equals,
                value: "http://example.org/vs/wide".into(),
            }],
            negate: false,
        }],
    );
    assert_eq!(ids(store, &p, &by_url).await, ["wide"]);
    let wi = one(vs, string("name", StringMode::StartsWith, "wi"));
    assert_eq!(ids(store, &p, &wi).await, ["wide"]);
}

/// A string prefix whose documents may carry the parameter's overflow marker (MongoDB reads
/// the keyed documents and the marked ones apart and merges them): a Patient with more family
/// names than keys fit is found through its entries, between keyed ones in `_id` order, on
/// pages of one in both directions, with ORed prefixes and another filter, and counted.
async fn marked_string_prefixes(store: &dyn Store) {
    let p = Partition::Default;
    let mut wide: Vec<IndexEntry> = (0..9_000)
        .map(|i| s("family", &format!("Fam{i}")))
        .collect();
    wide.push(s("family", "Wideman"));
    wide.push(tok("gender", None, "female", None));
    store
        .commit(
            &p,
            vec![
                create("Patient", "p-wide", 10, wide),
                create("Patient", "p-a", 11, vec![s("family", "Widener")]),
                create(
                    "Patient",
                    "p-z",
                    12,
                    vec![s("family", "Wider"), tok("gender", None, "female", None)],
                ),
                create("Patient", "p-other", 13, vec![s("family", "Smith")]),
            ],
        )
        .await
        .unwrap();
    let family = |v: &str| string("family", StringMode::StartsWith, v);
    let q = |conds: Vec<Cond>| query(PATIENT, all(conds));
    let cases: Vec<(&str, StoreQuery, Vec<&str>)> = vec![
        (
            "keyed and marked",
            q(vec![family("wid")]),
            vec!["p-a", "p-wide", "p-z"],
        ),
        ("marked only", q(vec![family("fam8999")]), vec!["p-wide"]),
        ("keyed only", q(vec![family("smi")]), vec!["p-other"]),
        ("none", q(vec![family("fam9000")]), vec![]),
        (
            "ORed",
            query(
                PATIENT,
                vec![StoreFilter {
                    any: vec![family("smi"), family("fam1")],
                    negate: false,
                }],
            ),
            vec!["p-other", "p-wide"],
        ),
        (
            "and another filter",
            q(vec![
                family("wid"),
                token("gender", SystemMatch::Any, Some("female")),
            ]),
            vec!["p-wide", "p-z"],
        ),
    ];
    for (name, query, want) in cases {
        assert_eq!(ids(store, &p, &query).await, want, "{name}: search");
        assert_eq!(
            store.count(&p, &query).await.unwrap(),
            want.len() as u64,
            "{name}: count"
        );
    }
    // Pages of one, forward to the end, then back from the last.
    let mut paged = q(vec![family("wid")]);
    paged.limit = 1;
    let mut seen = Vec::new();
    let mut last = None;
    loop {
        let page = store.search(&p, &paged).await.unwrap();
        let Some(m) = page.first() else { break };
        seen.push(m.version.id.clone());
        paged.after = Some(cursor_after(m, false));
        last = Some(m.clone());
    }
    assert_eq!(seen, ["p-a", "p-wide", "p-z"]);
    paged.after = Some(cursor_after(&last.unwrap(), true));
    let back = store.search(&p, &paged).await.unwrap();
    assert_eq!(
        back.iter()
            .map(|m| m.version.id.as_str())
            .collect::<Vec<_>>(),
        ["p-wide"]
    );
}

/// A patient and a code in one search (MongoDB answers it from one pair key), including a
/// resource that refers to more patients than get pair keys, two codes with one patient, and
/// a negated code.
async fn patient_and_code(store: &dyn Store) {
    let p = Partition::Default;
    let code = |c: &str| tok("code", Some(LOINC), c, None);
    let many: Vec<IndexEntry> = (1..=6)
        .map(|i| rf("performer", "Patient", &format!("pt{i}")))
        .chain([rf("subject", "Patient", "pt1"), code("A")])
        .collect();
    store
        .commit(
            &p,
            vec![
                create(
                    "Observation",
                    "oa",
                    10,
                    vec![rf("subject", "Patient", "pt1"), code("A"), code("B")],
                ),
                create(
                    "Observation",
                    "ob",
                    11,
                    vec![rf("subject", "Patient", "pt2"), code("A")],
                ),
                create(
                    "Observation",
                    "oc",
                    12,
                    vec![rf("subject", "Patient", "pt1"), code("C")],
                ),
                create(
                    "Observation",
                    "od",
                    13,
                    vec![rf("subject", "Group", "pt1"), code("A")],
                ),
                create("Observation", "many", 14, many),
            ],
        )
        .await
        .unwrap();
    let subject = |id: &str| reference("subject", Some("Patient"), Some(id), None);
    let code_is = |c: &str| token("code", SystemMatch::Is(LOINC.into()), Some(c));
    let q = |conds: Vec<Cond>| query(OBS, all(conds));
    assert_eq!(
        ids(store, &p, &q(vec![subject("pt1"), code_is("A")])).await,
        ["many", "oa"]
    );
    assert_eq!(
        ids(store, &p, &q(vec![code_is("A"), subject("pt2")])).await,
        ["ob"]
    );
    assert_eq!(
        ids(
            store,
            &p,
            &q(vec![
                reference("performer", Some("Patient"), Some("pt5"), None),
                code_is("A")
            ])
        )
        .await,
        ["many"]
    );
    assert_eq!(
        ids(
            store,
            &p,
            &q(vec![subject("pt1"), code_is("A"), code_is("B")])
        )
        .await,
        ["oa"]
    );
    assert_eq!(
        ids(
            store,
            &p,
            &q(vec![
                subject("pt1"),
                token("code", SystemMatch::Any, Some("C"))
            ])
        )
        .await,
        ["oc"]
    );
    let in_codes = Cond::TokenIn {
        param: "code".into(),
        codes: vec![(LOINC.into(), vec!["B".into(), "C".into()])],
    };
    assert_eq!(
        ids(store, &p, &q(vec![subject("pt1"), in_codes])).await,
        ["oa", "oc"]
    );
    let not_a = query(
        OBS,
        vec![
            StoreFilter {
                any: vec![subject("pt1")],
                negate: false,
            },
            StoreFilter {
                any: vec![code_is("A")],
                negate: true,
            },
        ],
    );
    assert_eq!(ids(store, &p, &not_a).await, ["oc"]);
    assert_eq!(
        store
            .count(&p, &q(vec![subject("pt1"), code_is("A")]))
            .await
            .unwrap(),
        2
    );
    assert!(ids(store, &p, &q(vec![subject("pt2"), code_is("B")]))
        .await
        .is_empty());
}

/// Every search of these cases interrupted after its first steps and run again off the
/// async worker (what happens to a search that outlasts the inline budget): the same answers.
mod sqlite_searches_moved_off_the_worker {
    use fhird::store::{sqlite::SqliteStore, Store};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn give_the_same_answers() {
        let mut moved = 0;
        for case in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().display().to_string())
                .unwrap()
                .with_inline_budget(Duration::ZERO);
            match case {
                0 => super::query_cases(&store).await,
                1 => super::date_windows(&store).await,
                2 => super::long_key_ranges(&store).await,
                _ => super::sort_values_and_count(&store).await,
            }
            moved += store.searches_moved_off_worker();
            store.close().await;
        }
        assert!(moved > 10, "{moved}");
    }

    /// A search that outlasted the budget marks its shape: the next one of that shape (other
    /// values) is not tried on the worker again, one of another shape is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remember_the_shapes_that_ran_long() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().display().to_string())
            .unwrap()
            .with_inline_budget(Duration::ZERO);
        let p = fhird::partition::Partition::Default;
        let writes = (0..3000)
            .map(|i| {
                super::create(
                    "Observation",
                    &format!("o{i:04}"),
                    i,
                    vec![super::tok(
                        "code",
                        Some(super::LOINC),
                        &format!("c{}", i % 2),
                        None,
                    )],
                )
            })
            .collect();
        store.commit(&p, writes).await.unwrap();
        let by_code = |code: &str| {
            super::one(
                super::OBS,
                super::token("code", super::SystemMatch::Any, Some(code)),
            )
        };
        assert_eq!(store.search(&p, &by_code("c0")).await.unwrap().len(), 100);
        assert_eq!(store.searches_moved_off_worker(), 1);
        assert_eq!(store.search(&p, &by_code("c1")).await.unwrap().len(), 100);
        assert_eq!(store.searches_moved_off_worker(), 1, "same shape");
        assert_eq!(store.count(&p, &by_code("c1")).await.unwrap(), 1500);
        assert_eq!(
            store.searches_moved_off_worker(),
            2,
            "a count is its own shape"
        );
        store.close().await;

        // Once the memory has passed, the shape is tried on the worker again.
        let store = SqliteStore::open(&dir.path().display().to_string())
            .unwrap()
            .with_inline_budget(Duration::ZERO)
            .with_long_shape_memory(Duration::ZERO);
        assert_eq!(store.search(&p, &by_code("c0")).await.unwrap().len(), 100);
        assert_eq!(store.search(&p, &by_code("c1")).await.unwrap().len(), 100);
        assert_eq!(store.searches_moved_off_worker(), 2, "forgotten");
        store.close().await;
    }
}

/// Codes and versions that look like numbers sort as the text they are, byte by byte, on
/// both stores (SQLite's sort column has numeric affinity and once turned `10` into a
/// number, before all text), paged both ways.
async fn numeric_looking_text_sorts(store: &dyn Store) {
    let p = Partition::Default;
    let codes = ["9", "10", "2.1", "abc", "010", "-5", "1e3", "Z"];
    let writes: Vec<Write> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            create(
                "Observation",
                &format!("t{i}"),
                100 + i as i64,
                vec![
                    tok("code", Some(LOINC), c, None),
                    tok("category", None, "lab", None),
                ],
            )
        })
        .collect();
    store.commit(&p, writes).await.unwrap();
    let mut by_code: Vec<(&str, String)> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, format!("t{i}")))
        .collect();
    by_code.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let ascending: Vec<String> = by_code.iter().map(|(_, id)| id.clone()).collect();
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    let lab = || one(OBS, token("category", SystemMatch::Any, Some("lab")));
    for (q, want) in [
        (
            sorted(
                query(OBS, vec![]),
                by_param("code", ParamType::Token),
                false,
            ),
            &ascending,
        ),
        (
            sorted(lab(), by_param("code", ParamType::Token), false),
            &ascending,
        ),
        (
            sorted(lab(), by_param("code", ParamType::Token), true),
            &descending,
        ),
    ] {
        assert_paged(store, &p, "numeric-looking codes", &q, want, &[3]).await;
    }
}

/// A store whose text sort values were written by an earlier build (numeric-looking ones
/// turned into numbers) has them rewritten when it opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rewrites_text_sort_values_written_as_numbers() {
    let (store, dir) = sqlite_store().await;
    numeric_looking_text_sorts(&*store).await;
    store.close().await;
    drop(store);
    let file = dir.path().join("fhird.sqlite");
    {
        let conn = rusqlite::Connection::open(&file).unwrap();
        // What the earlier build stored: text, with the column's numeric affinity applied.
        let changed = conn
            .execute(
                "UPDATE ix_present SET a = CAST(a AS TEXT), d = CAST(d AS TEXT) \
                 WHERE typeof(a) = 'blob'",
                [],
            )
            .unwrap();
        assert!(changed >= 16, "{changed}");
        let numbers: i64 = conn
            .query_row(
                "SELECT count(*) FROM ix_present WHERE param = 'code' AND typeof(a) <> 'text'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            numbers >= 5,
            "the old layout turned {numbers} codes into numbers"
        );
        conn.execute_batch("PRAGMA user_version = 0").unwrap();
    }
    let store = fhird::store::open(&format!("sqlite:{}", dir.path().display()))
        .await
        .unwrap();
    let q = sorted(
        query(OBS, vec![]),
        by_param("code", ParamType::Token),
        false,
    );
    let mut codes = ["9", "10", "2.1", "abc", "010", "-5", "1e3", "Z"]
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, format!("t{i}")))
        .collect::<Vec<_>>();
    codes.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let want: Vec<String> = codes.into_iter().map(|(_, id)| id).collect();
    assert_paged(
        &*store,
        &Partition::Default,
        "after the rewrite",
        &q,
        &want,
        &[3],
    )
    .await;
    store.close().await;
}

/// Values of one parameter ORed (`code=a,b`): MongoDB counts them as one `$in` of their keys
/// plus the documents with the parameter's overflow marker; a resource with several of the
/// values is one match, one past the key cap is found through its marker, and the search
/// and the count agree.
async fn ored_values(store: &dyn Store) {
    let p = Partition::Default;
    let mut capped: Vec<IndexEntry> = (0..9_000)
        .map(|i| tok("code", Some(LOINC), &format!("{i}-0"), None))
        .collect();
    capped.push(tok("code", Some(LOINC), "b", None));
    store
        .commit(
            &p,
            vec![
                create(
                    "Observation",
                    "both",
                    1,
                    vec![
                        tok("code", Some(LOINC), "a", None),
                        tok("code", Some(LOINC), "b", None),
                    ],
                ),
                create(
                    "Observation",
                    "only-a",
                    2,
                    vec![tok("code", Some(LOINC), "a", None)],
                ),
                create(
                    "Observation",
                    "other",
                    3,
                    vec![tok("code", Some(LOINC), "c", None)],
                ),
                create("Observation", "capped", 4, capped),
            ],
        )
        .await
        .unwrap();
    let codes = |cs: &[&str], system: SystemMatch| StoreFilter {
        any: cs
            .iter()
            .map(|c| token("code", system.clone(), Some(c)))
            .collect(),
        negate: false,
    };
    let loinc = || SystemMatch::Is(LOINC.into());
    let cases: Vec<(&str, StoreFilter, Vec<&str>)> = vec![
        (
            "a or b",
            codes(&["a", "b"], SystemMatch::Any),
            vec!["both", "capped", "only-a"],
        ),
        (
            "b or a, with the system",
            codes(&["b", "a"], loinc()),
            vec!["both", "capped", "only-a"],
        ),
        (
            "a twice",
            codes(&["a", "a"], SystemMatch::Any),
            vec!["both", "only-a"],
        ),
        (
            "a or c",
            codes(&["a", "c"], SystemMatch::Any),
            vec!["both", "only-a", "other"],
        ),
        (
            "capped code or none",
            codes(&["17-0", "zz"], loinc()),
            vec!["capped"],
        ),
        ("none", codes(&["y", "zz"], SystemMatch::Any), vec![]),
    ];
    for (name, filter, want) in cases {
        let q = query(OBS, vec![filter]);
        let mut found: Vec<String> = store
            .search(&p, &q)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.version.id)
            .collect();
        found.sort();
        assert_eq!(found, want, "{name}: search");
        assert_eq!(
            store.count(&p, &q).await.unwrap(),
            want.len() as u64,
            "{name}: count"
        );
    }
}

on_both_stores!(
    date_sort_order,
    ored_values,
    last_updated_windows,
    numeric_looking_text_sorts,
    filtered_date_sorts,
    date_windows,
    last_updated_order,
    long_key_ranges,
    patient_and_code,
    very_wide_resources,
    marked_string_prefixes,
    near_positions,
    range_values,
    query_cases,
    sort_values_and_count,
    keyset_paging_with_inserts,
    read_many_current_only,
    update_replaces_and_delete_removes,
    failed_commit_leaves_no_entries,
    partitions_are_separate,
    containers_are_recorded,
);

// ---- query plans ----------------------------------------------------------------------------

/// One query of every shape, for the plan checks.
fn plan_shapes() -> Vec<(&'static str, StoreQuery)> {
    let mut shapes: Vec<(&'static str, StoreQuery)> = cases()
        .into_iter()
        .filter(|(_, q, _)| !q.resource_types.is_empty() && !q.filters.is_empty())
        .map(|(n, q, _)| (n, q))
        .collect();
    let mut keyset = sorted(
        one(PATIENT, token("gender", SystemMatch::Any, Some("female"))),
        by_param("birthdate", ParamType::Date),
        false,
    );
    keyset.after = Some(Cursor {
        values: vec![SortValue::Int(0)],
        resource_type: "Patient".into(),
        id: "p1".into(),
        backward: false,
    });
    shapes.push(("keyset continuation", keyset));
    // `_contained`: containers with some slot meeting both criteria, as the AND of ORs
    // across the slots (`Medication?code=1001&form=tablet&_contained=true`; the
    // container type must exist for a plan).
    let slot = |n: usize, param: &str, code: &str| {
        token(
            &format!("_contained{n}:Medication.{param}"),
            SystemMatch::Any,
            Some(code),
        )
    };
    let either = |a: Cond, b: Cond| StoreFilter {
        any: vec![a, b],
        negate: false,
    };
    shapes.push((
        "contained resources in two slots",
        query(
            PATIENT,
            vec![
                either(slot(0, "code", "1001"), slot(1, "code", "1001")),
                either(slot(0, "code", "1001"), slot(1, "form", "tablet")),
                either(slot(0, "form", "tablet"), slot(1, "code", "1001")),
                either(slot(0, "form", "tablet"), slot(1, "form", "tablet")),
            ],
        ),
    ));
    shapes.push((
        "a two-sided date window",
        query(
            PATIENT,
            all(vec![
                date_cond("birthdate", Prefix::Ge, "1980"),
                date_cond("birthdate", Prefix::Lt, "1991"),
            ]),
        ),
    ));
    shapes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_selective_shapes_use_indexes() {
    let (store, dir) = sqlite_store().await;
    load(&*store, &Partition::Default).await;
    let conn = rusqlite::Connection::open(dir.path().join("fhird.sqlite")).unwrap();
    // Shapes whose selective part is an index seek (not `:contains`, `:missing=true`, `:not`,
    // ne, gt/lt-style open ranges, which scan within the parameter's entries at best).
    let seeks: &[(&str, &str)] = &[
        (
            "string starts-with",
            "ix_string_by_norm (partition=? AND rtype=? AND param=? AND norm>",
        ),
        (
            "string exact",
            "ix_string_by_norm (partition=? AND rtype=? AND param=? AND norm=?",
        ),
        (
            "token code",
            "ix_token_by_code (partition=? AND rtype=? AND param=? AND code=?",
        ),
        (
            "token in",
            "ix_token_by_code (partition=? AND rtype=? AND param=? AND code=?",
        ),
        (
            "token in, long list",
            "ix_token_by_code (partition=? AND rtype=? AND param=? AND code=?",
        ),
        (
            "token system|",
            "ix_token_by_system (partition=? AND rtype=? AND param=? AND system=?",
        ),
        ("date eq year", "ix_date_by_"),
        (
            "values of one param are ORed",
            "ix_string_by_norm (partition=? AND rtype=? AND param=? AND norm>",
        ),
        (
            "number eq integer",
            "ix_number_by_low (partition=? AND rtype=? AND param=? AND low>",
        ),
        (
            "quantity system and code",
            "ix_number_by_low (partition=? AND rtype=? AND param=? AND low>",
        ),
        (
            "reference type/id",
            "ix_reference_by_id (partition=? AND rtype=? AND param=? AND tid=?",
        ),
        (
            "reference absolute url",
            "ix_reference_by_url (partition=? AND rtype=? AND param=? AND url=?",
        ),
        (
            "reference in, long list",
            "ix_reference_by_id (partition=? AND rtype=? AND param=? AND tid=?",
        ),
        (
            "uri equals",
            "ix_uri_by_value (partition=? AND rtype=? AND param=? AND value=?",
        ),
        (
            "uri above",
            "ix_uri_by_value (partition=? AND rtype=? AND param=? AND value=?",
        ),
        (
            "missing false",
            "ix_present_param (partition=? AND rtype=? AND param=?",
        ),
        (
            "_lastUpdated ge",
            "history_by_type_time (partition=? AND rtype=? AND t>",
        ),
        (
            "composite match",
            "ix_token_by_code (partition=? AND rtype=? AND param=? AND code=?",
        ),
    ];
    let shapes = plan_shapes();
    for (name, expected) in seeks {
        let (_, q) = shapes.iter().find(|(n, _)| n == name).unwrap();
        let plan = fhird::store::sqlite_search::explain(&conn, "", q).unwrap();
        let plan_norm = plan.replace(">=", ">").replace("<=", "<");
        assert!(
            plan_norm.contains(&format!("USING INDEX {expected}"))
                || plan_norm.contains(&format!("USING COVERING INDEX {expected}")),
            "{name}: expected {expected}, plan:\n{plan}"
        );
        if *expected == "ix_date_by_" {
            assert!(plan.contains("param=? AND "), "{name}: {plan}");
        }
        if [
            "date eq year",
            "number eq integer",
            "quantity system and code",
        ]
        .contains(name)
        {
            // The implied `low <= end of the year` closes the range of starts.
            assert!(plan_norm.contains("low>? AND low<?"), "{name}: {plan}");
        }
        // Matching resources are reached through their seq, never by scanning the type.
        assert!(
            plan.contains("SEARCH c USING COVERING INDEX current_by_seq (seq=?")
                && !plan.contains("SCAN c")
                && !plan.contains("SCAN x")
                && !plan.contains("SCAN h"),
            "{name}: scan in plan:\n{plan}"
        );
    }
    store.close().await;
}

/// True when some `indexBounds` of the plan leave the leading `<array>.p` field open.
fn unbounded_parameter(b: &mongodb::bson::Bson) -> bool {
    use mongodb::bson::Bson;
    match b {
        Bson::Document(d) => d.iter().any(|(k, v)| {
            if k == "indexBounds" {
                if let Bson::Document(bounds) = v {
                    // A COUNT_SCAN names its range by its two ends.
                    if let Ok(start) = bounds.get_document("startKey") {
                        if let Some((field, from)) = start.iter().next() {
                            return (field.ends_with(".p") || field == "k")
                                && matches!(from, Bson::MinKey);
                        }
                    }
                    if let Some((field, range)) = bounds.iter().next() {
                        return (field.ends_with(".p") || field == "k")
                            && format!("{range}").contains("MinKey, MaxKey");
                    }
                }
            }
            unbounded_parameter(v)
        }),
        Bson::Array(a) => a.iter().any(unbounded_parameter),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_no_shape_scans_a_collection() {
    let spec = common::fresh_mongo_spec();
    let store = fhird::store::mongo::MongoStore::connect(&spec)
        .await
        .unwrap();
    load(&store, &Partition::Default).await;
    let mut shapes = plan_shapes();
    shapes.push((
        "unfiltered sort by a param with a sort index",
        sorted(
            query(PATIENT, vec![]),
            by_param("family", ParamType::String),
            true,
        ),
    ));
    shapes.push((
        "sort by a param",
        sorted(
            one(PATIENT, token("gender", SystemMatch::Any, Some("female"))),
            by_param("name", ParamType::String),
            true,
        ),
    ));
    // A current collection has 9 indexes (with `_id`): one per entry array (strings, tokens,
    // dates, numbers, references, uris), the match keys `{k, _id}` and `{t, _id}`; and two
    // for each parameter configured for sorting (Patient `family` and `birthdate` by default).
    let (uri, db) = spec.split_once("db=").unwrap();
    let client = mongodb::Client::with_uri_str(uri.trim_end_matches(['?', '&']))
        .await
        .unwrap();
    let mut names: Vec<String> = client
        .database(db)
        .collection::<mongodb::bson::Document>("fhir.Patient")
        .list_index_names()
        .await
        .unwrap();
    names.sort();
    assert_eq!(
        names,
        [
            "_id_",
            "k_1__id_1",
            "so.birthdate.a_1__id_1",
            "so.birthdate.d_-1__id_1",
            "so.family.a_1__id_1",
            "so.family.d_-1__id_1",
            "t_1__id_1",
            "xd.p_1_xd.lo_1_xd.hi_1",
            "xn.p_1_xn.lo_1_xn.hi_1",
            "xr.p_1",
            "xs.p_1",
            "xt.p_1",
            "xu.p_1",
        ]
    );
    let mut bad = Vec::new();
    for (name, q) in &shapes {
        // The page's reads and the `count` commands of its total (never hinted). Counts of
        // a negation read every document (nothing indexes what a resource lacks; the page
        // walks `_id`), so does the count of a search without criteria (every live resource
        // of the type), and SecantusDB counts an `$or` across parameters by a collection
        // scan where MongoDB ORs index scans: those are left out of the count check.
        let mut plans = store.explain_search(&Partition::Default, q).await.unwrap();
        let across = |f: &StoreFilter| {
            let mut params: Vec<Option<&str>> = f.any.iter().map(Cond::param).collect();
            params.dedup();
            params.len() > 1
        };
        if !q.filters.is_empty() && !q.filters.iter().any(|f| f.negate || across(f)) {
            plans.extend(store.explain_count(&Partition::Default, q).await.unwrap());
        }
        for plan in plans {
            let text = format!("{plan:?}");
            if text.contains("COLLSCAN")
                || !(text.contains("IXSCAN") || text.contains("COUNT_SCAN"))
            {
                bad.push(format!("{name}: {text}"));
            }
            // An entry-array or key index is entered at the parameter, never scanned whole.
            if unbounded_parameter(&mongodb::bson::Bson::Document(plan)) {
                bad.push(format!(
                    "{name}: an index scan is not bounded by the parameter: {text}"
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
    store.close().await;
}

/// `near` reads what an index gives for its cap on both stores: SQLite the latitude band of
/// `ix_position_by_band` (covering: the chord test reads the index), MongoDB the cap's grid
/// cells in `{k, _id}`; for the page and the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_reads_the_latitude_band_from_an_index() {
    let p = Partition::Default;
    let writes = || {
        (0..20)
            .map(|i| {
                let at = position(f64::from(i) - 10.0, 5.0 * f64::from(i));
                create("Location", &format!("l{i}"), 10 + i64::from(i), vec![at])
            })
            .collect::<Vec<_>>()
    };
    let q = one(&["Location"], near(0.0, 50.0, 100.0));
    let (sqlite, dir) = sqlite_store().await;
    sqlite.commit(&p, writes()).await.unwrap();
    assert_eq!(ids(&*sqlite, &p, &q).await, ["l10"]);
    let conn = rusqlite::Connection::open(dir.path().join("fhird.sqlite")).unwrap();
    let plan = fhird::store::sqlite_search::explain(&conn, "", &q).unwrap();
    assert!(
        plan.contains(
            "COVERING INDEX ix_position_by_band (partition=? AND rtype=? AND param=? AND lat>"
        ),
        "{plan}"
    );
    sqlite.close().await;
    let store = fhird::store::mongo::MongoStore::connect(&common::fresh_mongo_spec())
        .await
        .unwrap();
    store.commit(&p, writes()).await.unwrap();
    assert_eq!(ids(&store, &p, &q).await, ["l10"]);
    let mut plans = store.explain_search(&p, &q).await.unwrap();
    plans.extend(store.explain_count(&p, &q).await.unwrap());
    for plan in plans {
        let text = format!("{plan:?}");
        assert!(
            !text.contains("COLLSCAN") && text.contains("k_1__id_1"),
            "{text}"
        );
        assert!(
            !unbounded_parameter(&mongodb::bson::Bson::Document(plan)),
            "{text}"
        );
    }
    store.close().await;
}

/// A two-sided date search on MongoDB asks `k` for the hull keys of its window only when the
/// collection is recorded as having them on every document: a collection of an older build
/// (simulated: the record removed and one document's hull key pulled) is searched without
/// them, and finds that document, until a type-level `$reindex` has rewritten it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_date_windows_use_hull_keys_once_every_document_has_them() {
    use fhird::store::mongo::MongoStore;
    use mongodb::bson::{doc, Document};
    let spec = common::fresh_mongo_spec();
    let p = Partition::Default;
    let entries = |d: &str| vec![date("date", d), tok("code", Some(LOINC), "x", None)];
    let store = MongoStore::connect(&spec).await.unwrap();
    store
        .commit(
            &p,
            vec![
                create("Observation", "in-1", 1, entries("2020-03-15")),
                create("Observation", "in-2", 2, entries("2020-03-16T10:00:00Z")),
                create("Observation", "out", 3, entries("2020-05-01")),
            ],
        )
        .await
        .unwrap();
    let d = |prefix: Prefix, text: &str| date_cond("date", prefix, text);
    let window = query(
        OBS,
        all(vec![
            d(Prefix::Ge, "2020-03-01"),
            d(Prefix::Lt, "2020-04-01"),
        ]),
    );
    let uses_hulls = |plans: Vec<Document>| format!("{plans:?}").contains("dw|date|");
    assert!(uses_hulls(store.explain_search(&p, &window).await.unwrap()));
    assert_eq!(ids(&store, &p, &window).await, ["in-1", "in-2"]);

    let (uri, db) = spec.split_once("db=").unwrap();
    let client = mongodb::Client::with_uri_str(uri.trim_end_matches(['?', '&']))
        .await
        .unwrap();
    let db = client.database(db);
    db.collection::<Document>("fhir._layout")
        .delete_many(doc! {})
        .await
        .unwrap();
    let pulled = db
        .collection::<Document>("fhir.Observation")
        .update_one(
            doc! {"_id": "in-2"},
            doc! {"$pull": {"k": {"$regex": "^dw\\|"}}},
        )
        .await
        .unwrap();
    assert_eq!(pulled.modified_count, 1);
    store.close().await;

    let older = MongoStore::connect(&spec).await.unwrap();
    assert!(!uses_hulls(
        older.explain_search(&p, &window).await.unwrap()
    ));
    assert_eq!(ids(&older, &p, &window).await, ["in-1", "in-2"]);
    assert_eq!(older.count(&p, &window).await.unwrap(), 2);
    let current = older
        .current(&p, "Observation", "in-2")
        .await
        .unwrap()
        .unwrap();
    assert!(older
        .reindex(
            &p,
            "Observation",
            "in-2",
            current.version,
            entries("2020-03-16T10:00:00Z")
        )
        .await
        .unwrap());
    older.reindexed(&p, Some("Observation")).await.unwrap();
    assert!(uses_hulls(older.explain_search(&p, &window).await.unwrap()));
    assert_eq!(ids(&older, &p, &window).await, ["in-1", "in-2"]);
    assert_eq!(older.count(&p, &window).await.unwrap(), 2);
    older.close().await;
}

/// An order no index gives (a parameter's sort value) is answered by a sweep of the matches'
/// sort values, however many (6,000 here, more than a sort in the server's memory used to be
/// allowed), with ids spread over the id space so that an unfiltered sweep reads many `_id`
/// windows; past the store's sort cap it is refused with `too-costly`. `_lastUpdated` in
/// either direction walks `{t, _id}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_sweeps_sorts_no_index_gives() {
    let spec = common::fresh_mongo_spec();
    let store = fhird::store::mongo::MongoStore::connect(&spec)
        .await
        .unwrap()
        .with_sort_indexes("none")
        .unwrap();
    let p = Partition::Default;
    let n = 6_000usize;
    let id_of = spread_id;
    let year = |i: usize| (!i.is_multiple_of(13)).then_some(i % 100);
    let code = |i: usize| {
        if i.is_multiple_of(10) {
            "tenth"
        } else {
            "other"
        }
    };
    let writes = dated_observations(n, code, year);
    for chunk in writes.chunks(1_000) {
        store.commit(&p, chunk.to_vec()).await.unwrap();
    }
    // By year (dateless last in both directions), ties by id ascending.
    let expected = |matches: &dyn Fn(usize) -> bool, descending: bool| {
        let m = (0..n).filter(|&i| matches(i));
        in_key_order(m.map(|i| (year(i), id_of(i))).collect(), descending)
    };
    let by_date =
        |q: StoreQuery, descending: bool| sorted(q, by_param("date", ParamType::Date), descending);
    for descending in [false, true] {
        let all = by_date(query(OBS, vec![]), descending);
        let name = format!("every Observation by date, descending {descending}");
        assert_paged(
            &store,
            &p,
            &name,
            &all,
            &expected(&|_| true, descending),
            &[1_500],
        )
        .await;
        let tenth = by_date(
            one(OBS, token("code", SystemMatch::Any, Some("tenth"))),
            descending,
        );
        assert_paged(
            &store,
            &p,
            &format!("a tenth by date, descending {descending}"),
            &tenth,
            &expected(&|i| i % 10 == 0, descending),
            &[20],
        )
        .await;
    }
    // The unfiltered sweep reads `_id` windows, the filtered one its code's key range.
    for q in [
        by_date(query(OBS, vec![]), false),
        by_date(
            one(OBS, token("code", SystemMatch::Any, Some("tenth"))),
            false,
        ),
    ] {
        for plan in store.explain_search(&p, &q).await.unwrap() {
            let text = format!("{plan:?}");
            assert!(
                !text.contains("COLLSCAN") && text.contains("IXSCAN"),
                "a sweep should read an index range: {text}"
            );
        }
    }
    for descending in [true, false] {
        let q = sorted(query(OBS, vec![]), SortKey::LastUpdated, descending);
        let found = store.search(&p, &q).await.unwrap();
        let first = if descending { n - 1 } else { 0 };
        assert_eq!(found[0].version.id, id_of(first));
        for plan in store.explain_search(&p, &q).await.unwrap() {
            let text = format!("{plan:?}");
            assert!(
                text.contains("t_1__id_1") && !text.contains("\"SORT\""),
                "_lastUpdated descending {descending} should walk {{t, _id}}: {text}"
            );
        }
    }
    store.close().await;
    // Past the cap: refused, while a narrower search under it is answered.
    let capped = fhird::store::mongo::MongoStore::connect(&spec)
        .await
        .unwrap()
        .with_sort_cap(1_000);
    match capped.search(&p, &by_date(query(OBS, vec![]), false)).await {
        Err(StoreError::TooCostly(m)) => assert!(m.contains("add criteria"), "{m}"),
        other => panic!("expected too costly, got {:?}", other.map(|v| v.len())),
    }
    let mut tenth = by_date(
        one(OBS, token("code", SystemMatch::Any, Some("tenth"))),
        true,
    );
    tenth.limit = 20;
    assert_eq!(
        ids(&capped, &p, &tenth).await,
        expected(&|i| i % 10 == 0, true)[..20]
    );
    capped.close().await;
}

/// A parameter sort no filter narrows walks the collection's sort index when it has one
/// (`FHIRD_MONGO_SORT_INDEXES`; Observation `date` by default): the values in the index's
/// order, then the resources without one by id, in both directions and both ways of paging,
/// with ties, a deleted resource and one updated to a new date; no sort in memory and no cap.
/// A collection without the index is still swept (`mongodb_sweeps_sorts_no_index_gives`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_unfiltered_sorts_walk_a_sort_index() {
    let spec = common::fresh_mongo_spec();
    let store = fhird::store::mongo::MongoStore::connect(&spec)
        .await
        .unwrap();
    let p = Partition::Default;
    let n = 400usize;
    let id_of = spread_id;
    // Years 1950-1986 repeat every 37 resources (ties); every eleventh has no date.
    let year = |i: usize| (!i.is_multiple_of(11)).then_some(50 + i % 37);
    let writes = dated_observations(n, |_| "x", year);
    store.commit(&p, writes).await.unwrap();
    // Resource n is deleted; resource 1 moves to the newest year, resource 2 loses its date.
    store
        .commit(
            &p,
            vec![
                create(
                    "Observation",
                    &id_of(n),
                    5_000,
                    vec![date("date", "2100-01-01")],
                ),
                update(
                    "Observation",
                    &id_of(1),
                    2,
                    5_001,
                    vec![date("date", "2000-01-01")],
                ),
                update("Observation", &id_of(2), 2, 5_002, vec![]),
            ],
        )
        .await
        .unwrap();
    store
        .commit(&p, vec![delete("Observation", &id_of(n), 2, 5_003)])
        .await
        .unwrap();
    let year_now = |i: usize| match i {
        1 => Some(100),
        2 => None,
        _ => year(i),
    };
    let expected = |descending: bool| {
        in_key_order(
            (0..n).map(|i| (year_now(i), id_of(i))).collect(),
            descending,
        )
    };
    for descending in [true, false] {
        let q = sorted(
            query(OBS, vec![]),
            by_param("date", ParamType::Date),
            descending,
        );
        let name = format!("every Observation by date, descending {descending}");
        assert_paged(&store, &p, &name, &q, &expected(descending), &[7, 50]).await;
        let index = if descending {
            "so.date.d_-1__id_1"
        } else {
            "so.date.a_1__id_1"
        };
        for plan in store.explain_search(&p, &q).await.unwrap() {
            let text = format!("{plan:?}");
            assert!(
                text.contains(index) && !text.contains("\"SORT\"") && !text.contains("COLLSCAN"),
                "{name} should walk the sort index {index}: {text}"
            );
        }
    }
    // The index needs no cap: a store capped below the matches still answers.
    let capped = fhird::store::mongo::MongoStore::connect(&spec)
        .await
        .unwrap()
        .with_sort_cap(10);
    let mut q = sorted(query(OBS, vec![]), by_param("date", ParamType::Date), true);
    q.limit = 5;
    assert_eq!(ids(&capped, &p, &q).await, expected(true)[..5]);
    capped.close().await;
    // An index dropped since it was listed: the read that hints it fails, and the search
    // lists the indexes again and sweeps.
    let (uri, db) = spec.split_once("db=").unwrap();
    let client = mongodb::Client::with_uri_str(uri.trim_end_matches(['?', '&']))
        .await
        .unwrap();
    client
        .database(db)
        .collection::<mongodb::bson::Document>("fhir.Observation")
        .drop_index("so.date.d_-1__id_1")
        .await
        .unwrap();
    assert_eq!(ids(&store, &p, &q).await, expected(true)[..5]);
    store.close().await;
}

/// A patient and a code: the resources with both are one range of the pair index, and both
/// criteria are checked per candidate through their `(seq)` index, so neither the patient's
/// whole record nor every patient's resources with the code is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_drives_a_patient_and_code_search_from_the_pair() {
    let (store, dir) = sqlite_store().await;
    load(&*store, &Partition::Default).await;
    let conn = rusqlite::Connection::open(dir.path().join("fhird.sqlite")).unwrap();
    let q = StoreQuery {
        resource_types: vec!["Observation".into()],
        filters: vec![
            StoreFilter {
                any: vec![Cond::Token {
                    param: "code".into(),
                    system: SystemMatch::Is(LOINC.into()),
                    code: Some("8462-4".into()),
                }],
                negate: false,
            },
            StoreFilter {
                any: vec![Cond::Reference {
                    param: "subject".into(),
                    target_type: Some("Patient".into()),
                    id: Some("p1".into()),
                    url: None,
                    version: None,
                }],
                negate: false,
            },
        ],
        sort: Vec::new(),
        after: None,
        limit: 20,
    };
    let plan = fhird::store::sqlite_search::explain(&conn, "", &q).unwrap();
    assert!(
        plan.contains(
            "ix_pair USING PRIMARY KEY (partition=? AND rtype=? AND patient=? AND code=?"
        ),
        "the patient + code pair should drive:\n{plan}"
    );
    assert!(
        plan.contains("ix_token_seq (seq=? AND param=? AND code=?")
            && plan.contains("ix_reference_seq (seq=? AND param=? AND tid=?")
            && !plan.contains("ix_token_by_code")
            && !plan.contains("ix_reference_by_id"),
        "both criteria should be checked per candidate:\n{plan}"
    );
    // o1 (code 8462-4, subject p1) matches; o2 has the code but subject p2.
    let found = store.search(&Partition::Default, &q).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|m| m.version.id.as_str()).collect();
    assert_eq!(ids, ["o1"]);
    let mut other = q.clone();
    other.filters[1].any = vec![Cond::Reference {
        param: "subject".into(),
        target_type: Some("Patient".into()),
        id: Some("p2".into()),
        url: None,
        version: None,
    }];
    let found = store.search(&Partition::Default, &other).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|m| m.version.id.as_str()).collect();
    assert_eq!(ids, ["o2"]);
    assert_eq!(store.count(&Partition::Default, &q).await.unwrap(), 1);
    store.close().await;
}

/// The driver is the criterion with the fewest matches, counted from the index: a group
/// with many Observations and a code only one of them has → the code drives, and a narrow
/// driver leads even though SQLite would rather walk the type in id order. Counting reads the
/// index alone, yet never counts a deleted resource. (Groups, not patients: a patient and a
/// code drive from their pair.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_counts_candidates_to_choose_the_driver() {
    let (store, dir) = sqlite_store().await;
    let p = Partition::Default;
    for i in 0..300 {
        let code = if i % 100 == 7 { "rare-1" } else { "common" };
        let subject = if i < 200 { "many" } else { "other" };
        let w = create(
            "Observation",
            &format!("obs{i:03}"),
            10_000 + i,
            vec![
                tok("code", Some(LOINC), code, None),
                rf("subject", "Group", subject),
            ],
        );
        store.commit(&p, vec![w]).await.unwrap();
    }
    let filters = |code: &str, subject: &str| {
        all(vec![
            Cond::Reference {
                param: "subject".into(),
                target_type: Some("Group".into()),
                id: Some(subject.into()),
                url: None,
                version: None,
            },
            Cond::Token {
                param: "code".into(),
                system: SystemMatch::Is(LOINC.into()),
                code: Some(code.into()),
            },
        ])
    };
    let q = query(&["Observation"], filters("rare-1", "many"));
    let conn = rusqlite::Connection::open(dir.path().join("fhird.sqlite")).unwrap();
    let plan = fhird::store::sqlite_search::explain(&conn, "", &q).unwrap();
    assert!(
        plan.contains("USING COVERING INDEX ix_token_by_code (")
            && plan.contains("ix_reference_seq (seq=?")
            && plan.contains("SEARCH c USING COVERING INDEX current_by_seq (seq=?")
            && !plan.contains("PRIMARY KEY"),
        "the rare code should drive and the subject be probed:\n{plan}"
    );
    let ids = |found: Vec<fhird::store::Match>| -> Vec<String> {
        found.into_iter().map(|m| m.version.id).collect()
    };
    assert_eq!(
        ids(store.search(&p, &q).await.unwrap()),
        ["obs007", "obs107"]
    );
    assert_eq!(store.count(&p, &q).await.unwrap(), 2);
    // The common code is the broader criterion now: the subject drives.
    let q2 = query(&["Observation"], filters("common", "other"));
    let plan = fhird::store::sqlite_search::explain(&conn, "", &q2).unwrap();
    assert!(
        plan.contains("USING COVERING INDEX ix_reference_by_id (")
            && plan.contains("ix_token_seq (seq=?"),
        "the subject should drive:\n{plan}"
    );
    assert_eq!(store.count(&p, &q2).await.unwrap(), 99);
    // A deleted match disappears from results and from the index-only count.
    store
        .commit(&p, vec![delete("Observation", "obs107", 2, 20_000)])
        .await
        .unwrap();
    assert_eq!(ids(store.search(&p, &q).await.unwrap()), ["obs007"]);
    assert_eq!(store.count(&p, &q).await.unwrap(), 1);
    let one = query(
        &["Observation"],
        all(vec![Cond::Token {
            param: "code".into(),
            system: SystemMatch::Is(LOINC.into()),
            code: Some("rare-1".into()),
        }]),
    );
    // obs007 and obs207 (another subject) keep the code.
    assert_eq!(store.count(&p, &one).await.unwrap(), 2);
    store.close().await;
}

/// Queries whose filters do not imply a live resource (none, `_lastUpdated`, `_id`, `:not`,
/// `:missing=true`) leave the deletions out through the small `history_deletes` index, never
/// by reading each candidate's history row (at 1M an unfiltered `_summary=count` read every
/// Observation's body: 79 s from a cold cache, 0.13 s through the index). A resource deleted
/// and created again counts once, as live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_liveness_comes_from_the_deletions_index() {
    let (store, dir) = sqlite_store().await;
    let p = Partition::Default;
    let writes: Vec<Write> = (0..6)
        .map(|i| {
            create(
                "Observation",
                &format!("o{i}"),
                1_000 + i,
                vec![tok("code", Some(LOINC), "c", None)],
            )
        })
        .collect();
    store.commit(&p, writes).await.unwrap();
    store
        .commit(
            &p,
            vec![
                delete("Observation", "o1", 2, 2_000),
                delete("Observation", "o2", 2, 2_001),
            ],
        )
        .await
        .unwrap();
    // o2 comes back.
    store
        .commit(
            &p,
            vec![update(
                "Observation",
                "o2",
                3,
                3_000,
                vec![tok("code", Some(LOINC), "c", None)],
            )],
        )
        .await
        .unwrap();
    let live = ["o0", "o2", "o3", "o4", "o5"];
    let shapes: Vec<(&str, StoreQuery, Vec<&str>)> = vec![
        (
            "no filter",
            query(&["Observation"], Vec::new()),
            live.to_vec(),
        ),
        (
            "_lastUpdated",
            one(
                &["Observation"],
                Cond::LastUpdated {
                    prefix: Prefix::Ge,
                    low: 1_000,
                    high: 1_000,
                },
            ),
            live.to_vec(),
        ),
        (
            "_id",
            one(&["Observation"], Cond::Id(vec!["o1".into(), "o2".into()])),
            vec!["o2"],
        ),
        (
            ":not",
            query(
                &["Observation"],
                vec![StoreFilter {
                    any: vec![token("code", SystemMatch::Any, Some("other"))],
                    negate: true,
                }],
            ),
            live.to_vec(),
        ),
    ];
    let conn = rusqlite::Connection::open(dir.path().join("fhird.sqlite")).unwrap();
    for (name, q, expected) in shapes {
        let plan = fhird::store::sqlite_search::explain(&conn, "", &q).unwrap();
        assert!(
            plan.contains("history_deletes")
                && !plan.contains(" h USING")
                && !plan.contains("SCAN h"),
            "{name}: deletions should come from history_deletes:\n{plan}"
        );
        let found: Vec<String> = store
            .search(&p, &q)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.version.id)
            .collect();
        assert_eq!(found, expected, "{name}");
        assert_eq!(
            store.count(&p, &q).await.unwrap(),
            expected.len() as u64,
            "{name}"
        );
    }
    store.close().await;
    // A store from before the index gets it when it opens.
    conn.execute_batch("DROP INDEX history_deletes").unwrap();
    let store = fhird::store::open(&format!("sqlite:{}", dir.path().display()))
        .await
        .unwrap();
    let has_index: bool = conn
        .query_row(
            "SELECT count(*) = 1 FROM sqlite_master WHERE name = 'history_deletes'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(has_index);
    let q = query(&["Observation"], Vec::new());
    assert_eq!(store.count(&p, &q).await.unwrap(), 5);
    store.close().await;
}

/// A long page (`_count=1000`, an `_include`'s query) from one criterion with more matches
/// than a default page's walk would pay for: the criterion's matches are enumerated (a walk
/// of the types in id order reads about `limit` × (size / matches) rows). SQLite picks the
/// walk only on large tables, so this small store shows the plan and the page's order, not the
/// choice; at 1M, `Patient?_id=X&_revinclude=*` (warm) went from 0.28 s to 0.06–0.10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_long_pages_drive_from_their_criterion() {
    let (store, dir) = sqlite_store().await;
    let p = Partition::Default;
    let types = ["Encounter", "Observation", "Procedure"];
    let writes: Vec<Write> = (0..6_000)
        .map(|i| {
            let subject = if i % 2 == 0 { "many" } else { "other" };
            create(
                types[i % 3],
                &format!("r{i:04}"),
                10_000 + i as i64,
                vec![rf("subject", "Group", subject)],
            )
        })
        .collect();
    store.commit(&p, writes).await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("fhird.sqlite")).unwrap();
    // As `_revinclude=Observation:*` asks: any of several reference parameters.
    let targets = vec![("Group".to_string(), "many".to_string())];
    // And of every type, as `_revinclude=*` asks.
    let mut q = query(
        &[],
        vec![StoreFilter {
            any: [
                "based-on",
                "derived-from",
                "device",
                "encounter",
                "focus",
                "has-member",
                "part-of",
                "patient",
                "performer",
                "specimen",
                "subject",
            ]
            .into_iter()
            .map(|param| Cond::ReferenceIn {
                param: param.into(),
                targets: targets.clone(),
            })
            .collect(),
            negate: false,
        }],
    );
    q.limit = 1_001;
    let plan = fhird::store::sqlite_search::explain(&conn, "", &q).unwrap();
    assert!(
        plan.contains("ix_reference_by_id (")
            && plan.contains("SEARCH c USING COVERING INDEX current_by_seq (seq=?")
            && !plan.contains("SEARCH c USING PRIMARY KEY"),
        "a page of 1,001 drives from the subject:\n{plan}"
    );
    let found = store.search(&p, &q).await.unwrap();
    assert_eq!(found.len(), 1_001);
    // In type, then id order: the 1,000 Encounters (i % 6 == 0), then Observation r0004.
    let key = |m: &fhird::store::Match| (m.version.resource_type.clone(), m.version.id.clone());
    assert!(found.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    assert_eq!(key(&found[0]), ("Encounter".into(), "r0000".into()));
    assert_eq!(key(&found[999]), ("Encounter".into(), "r5994".into()));
    assert_eq!(key(&found[1_000]), ("Observation".into(), "r0004".into()));
    store.close().await;
}

/// The query plan of a search's page on the SQLite store in `dir`.
fn page_plans(dir: &tempfile::TempDir) -> impl Fn(&StoreQuery) -> String {
    let conn = rusqlite::Connection::open(dir.path().join("fhird.sqlite")).unwrap();
    move |q| fhird::store::sqlite_search::explain_page(&conn, "", q).unwrap()
}

/// A `_lastUpdated` filter that does not drive the search (most of the type matches it, or
/// another filter is narrower) is checked on each candidate's own history row by rowid,
/// instead of listing every version in its range first (100k Synthea resources,
/// `Observation?_lastUpdated=gt2020-01-01&_count=10`: 14 ms listed, 1 ms probed); the answers
/// are those of the filter, an update moving a resource out of the range included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_probes_last_updated_filters_that_do_not_drive() {
    let (store, dir) = sqlite_store().await;
    let p = Partition::Default;
    // r0000..r2999 at t = 1000 + i; every 500th has the code "rare".
    let writes: Vec<Write> = (0..3_000)
        .map(|i| {
            let code = if i % 500 == 0 { "rare" } else { "common" };
            create(
                "Observation",
                &format!("r{i:04}"),
                1_000 + i as i64,
                vec![tok("code", Some(LOINC), code, None)],
            )
        })
        .collect();
    for chunk in writes.chunks(500) {
        store.commit(&p, chunk.to_vec()).await.unwrap();
    }
    // r0001 updated at t = 10: now before every range below.
    store
        .commit(
            &p,
            vec![update(
                "Observation",
                "r0001",
                2,
                10,
                vec![tok("code", Some(LOINC), "common", None)],
            )],
        )
        .await
        .unwrap();
    let since = |t: i64| Cond::LastUpdated {
        prefix: Prefix::Ge,
        low: t,
        high: t,
    };
    let explain = page_plans(&dir);
    let probed = |plan: &str| {
        plan.contains("SEARCH x USING INTEGER PRIMARY KEY (rowid=?)")
            && !plan.contains("history_by_type_time")
    };
    let mut broad = query(OBS, all(vec![since(1_000)]));
    broad.limit = 10;
    let plan = explain(&broad);
    assert!(probed(&plan), "a broad range is probed:\n{plan}");
    let found: Vec<String> = store
        .search(&p, &broad)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.version.id)
        .collect();
    let want: Vec<String> = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        .iter()
        .map(|i| format!("r{i:04}"))
        .collect();
    assert_eq!(found, want);
    assert_eq!(store.count(&p, &broad).await.unwrap(), 2_999);
    let rare_since = query(
        OBS,
        all(vec![
            token("code", SystemMatch::Any, Some("rare")),
            since(2_000),
        ]),
    );
    let plan = explain(&rare_since);
    assert!(
        probed(&plan) && plan.contains("ix_token_by_code"),
        "the code drives, the range is probed:\n{plan}"
    );
    let found: Vec<String> = store
        .search(&p, &rare_since)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.version.id)
        .collect();
    assert_eq!(found, ["r1000", "r1500", "r2000", "r2500"]);
    store.close().await;
}

/// A search sorted by `_lastUpdated` first without filters walks the history's time
/// index and stops at the page's end (one type: `history_by_type_time`, several:
/// `history_by_time`), instead of sorting every match; explicit ids still lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_last_updated_order_walks_the_time_index() {
    let (store, dir) = sqlite_store().await;
    last_updated_order(&*store).await;
    let explain = page_plans(&dir);
    for descending in [true, false] {
        let plan = explain(&sorted(
            query(OBS, vec![]),
            SortKey::LastUpdated,
            descending,
        ));
        assert!(
            plan.contains("SEARCH h USING INDEX history_by_type_time (partition=? AND rtype=?)")
                && !plan.contains("TEMP B-TREE FOR ORDER BY"),
            "one type, descending {descending}:\n{plan}"
        );
    }
    let plan = explain(&sorted(
        query(&["Condition", "Observation"], vec![]),
        SortKey::LastUpdated,
        true,
    ));
    assert!(
        plan.contains("SEARCH h USING INDEX history_by_time (partition=?)")
            && !plan.contains("TEMP B-TREE FOR ORDER BY"),
        "two types:\n{plan}"
    );
    let plan = explain(&sorted(
        one(OBS, Cond::Id(vec!["e0".into(), "e2".into()])),
        SortKey::LastUpdated,
        true,
    ));
    assert!(!plan.contains("history_by_"), "explicit ids lead:\n{plan}");
    // A filter may select only old resources: its matches are sorted, not found by a walk.
    let plan = explain(&sorted(
        one(OBS, token("code", SystemMatch::Any, Some("odd"))),
        SortKey::LastUpdated,
        true,
    ));
    assert!(
        !plan.contains("history_by_"),
        "a filter is not walked:\n{plan}"
    );
    store.close().await;
}

/// A search sorted by a date parameter first without filters walks `ix_date`
/// (`ix_date_by_low` ascending, `ix_date_by_high` descending) instead of sorting every match;
/// with a filter the matches are sorted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_date_order_walks_the_date_index() {
    let (store, dir) = sqlite_store().await;
    date_sort_order(&*store).await;
    let explain = page_plans(&dir);
    for (descending, index) in [(false, "ix_date_by_low"), (true, "ix_date_by_high")] {
        let q = sorted(
            query(OBS, vec![]),
            by_param("date", ParamType::Date),
            descending,
        );
        let plan = explain(&q);
        assert!(
            plan.contains(&format!(
                "INDEX {index} (partition=? AND rtype=? AND param=?)"
            )) && !plan.contains("TEMP B-TREE FOR ORDER BY"),
            "descending {descending}:\n{plan}"
        );
    }
    let q = sorted(
        one(OBS, Cond::Id(vec!["a".into(), "b".into()])),
        by_param("date", ParamType::Date),
        true,
    );
    assert!(!explain(&q).contains("ix_date_by_"), "explicit ids lead");
    let q = sorted(
        one(OBS, token("code", SystemMatch::Any, Some("y"))),
        by_param("date", ParamType::Date),
        true,
    );
    assert!(
        !explain(&q).contains("ix_date_by_"),
        "a narrow filter is not walked"
    );
    store.close().await;
}

/// A date, `_lastUpdated` or default-order search whose filter matches many resources reads a
/// bounded stretch of the order's index (up to the value of its 4,000th row) and probes the
/// filter per row, instead of listing or sorting every match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_broad_filtered_date_sorts_walk_a_bounded_stretch() {
    let (store, dir) = sqlite_store().await;
    filtered_date_sorts(&*store).await;
    let explain = page_plans(&dir);
    for (descending, index) in [(false, "ix_date_by_low"), (true, "ix_date_by_high")] {
        let mut q = sorted(
            one(OBS, token("code", SystemMatch::Any, Some("even"))),
            by_param("date", ParamType::Date),
            descending,
        );
        q.limit = 20;
        let plan = explain(&q);
        let edge = if descending { "high>?" } else { "low<?" };
        assert!(
            plan.contains(&format!(
                "INDEX {index} (partition=? AND rtype=? AND param=? AND {edge})"
            )) && plan.contains("ix_token_seq")
                && !plan.contains("TEMP B-TREE FOR ORDER BY"),
            "descending {descending}:\n{plan}"
        );
        let mut q = sorted(
            one(OBS, token("code", SystemMatch::Any, Some("even"))),
            SortKey::LastUpdated,
            descending,
        );
        q.limit = 20;
        let plan = explain(&q);
        let edge = if descending { "t>?" } else { "t<?" };
        if !descending {
            let mut q = one(OBS, token("code", SystemMatch::Any, Some("even")));
            q.limit = 20;
            let plan = explain(&q);
            assert!(
                plan.contains("SEARCH c USING PRIMARY KEY (partition=? AND rtype=? AND id<?)")
                    && plan.contains("ix_token_seq")
                    && !plan.contains("TEMP B-TREE"),
                "default order:\n{plan}"
            );
        }
        assert!(
            plan.contains(&format!(
                "INDEX history_by_type_time (partition=? AND rtype=? AND {edge})"
            )) && plan.contains("ix_token_seq")
                && !plan.contains("TEMP B-TREE FOR ORDER BY"),
            "_lastUpdated, descending {descending}:\n{plan}"
        );
        let mut q = sorted(
            query(
                &["Condition", "Observation"],
                vec![StoreFilter {
                    any: vec![token("code", SystemMatch::Any, Some("even"))],
                    negate: false,
                }],
            ),
            SortKey::LastUpdated,
            descending,
        );
        q.limit = 20;
        let plan = explain(&q);
        assert!(
            plan.contains(&format!("INDEX history_by_time (partition=? AND {edge})"))
                && plan.contains("ix_token_seq")
                && !plan.contains("TEMP B-TREE FOR ORDER BY"),
            "two types by _lastUpdated, descending {descending}:\n{plan}"
        );
    }
    store.close().await;
}

/// The page of `date=geX&date=ltY` drives from the hull index (one range per width class),
/// not from either date filter; one date filter alone does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_drives_two_sided_date_searches_from_the_hulls() {
    let (store, dir) = sqlite_store().await;
    date_windows(&*store).await;
    let explain = page_plans(&dir);
    let window = "INDEX ix_present_window (partition=? AND rtype=? AND param=? AND <expr>=? AND a>? AND a<?)";
    let q = query(
        OBS,
        all(vec![
            date_cond("date", Prefix::Ge, "2020-03-01"),
            date_cond("date", Prefix::Lt, "2020-04-01"),
        ]),
    );
    let plan = explain(&q);
    assert!(plan.contains(window), "{plan}");
    let q = one(OBS, date_cond("date", Prefix::Ge, "2020-03-01"));
    assert!(!explain(&q).contains("ix_present_window"));
    store.close().await;
}

/// A store written before patient + code pairs existed gets them from its index rows when it
/// opens (overflow included), and answers pair-driven searches at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fills_pairs_of_an_older_store() {
    let (store, dir) = sqlite_store().await;
    patient_and_code(&*store).await;
    store.close().await;
    let file = dir.path().join("fhird.sqlite");
    {
        let conn = rusqlite::Connection::open(&file).unwrap();
        // The first layout of the table (a row per token parameter), left empty.
        conn.execute_batch(
            "DROP TABLE ix_pair; DROP TABLE ix_pair_overflow;
             CREATE TABLE ix_pair (partition TEXT NOT NULL, rtype TEXT NOT NULL,
                 patient TEXT NOT NULL, param TEXT NOT NULL, code TEXT NOT NULL, system TEXT,
                 seq INTEGER NOT NULL);",
        )
        .unwrap();
    }
    let store = fhird::store::open(&format!("sqlite:{}", dir.path().display()))
        .await
        .unwrap();
    {
        let conn = rusqlite::Connection::open(&file).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        // oa: pt1 × (A, B); ob: pt2 × A; oc: pt1 × C; od refers to a Group; many: overflow.
        assert_eq!(count("SELECT count(*) FROM ix_pair"), 4);
        assert_eq!(count("SELECT count(*) FROM ix_pair_overflow"), 1);
    }
    let subject = reference("subject", Some("Patient"), Some("pt1"), None);
    let code = token("code", SystemMatch::Is(LOINC.into()), Some("A"));
    let q = query(OBS, all(vec![subject, code]));
    assert_eq!(ids(&*store, &Partition::Default, &q).await, ["many", "oa"]);
    store.close().await;
}

/// A store written before number entries had intervals opens, and its rows become single
/// values covering themselves (what they were).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrates_number_entries_to_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fhird.sqlite");
    {
        let old = rusqlite::Connection::open(&file).unwrap();
        old.execute_batch(
            "CREATE TABLE ix_number (
                 partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
                 value REAL NOT NULL, system TEXT, code TEXT, unit TEXT,
                 seq INTEGER NOT NULL, grp INTEGER NOT NULL);
             CREATE INDEX ix_number_value ON ix_number (partition, rtype, param, value);
             CREATE INDEX ix_number_seq ON ix_number (seq, param, value);
             INSERT INTO ix_number VALUES ('', 'RiskAssessment', 'probability', 0.25, NULL, NULL, NULL, 7, 0);",
        )
        .unwrap();
    }
    let store = fhird::store::open(&format!("sqlite:{}", dir.path().display()))
        .await
        .unwrap();
    store.close().await;
    let conn = rusqlite::Connection::open(&file).unwrap();
    let row: (f64, f64, f64) = conn
        .query_row("SELECT value, low, high FROM ix_number", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(row, (0.25, 0.25, 0.25));
    let seq_index: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'ix_number_seq'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(seq_index.contains("low, high"), "{seq_index}");
    let old_index: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'ix_number_value'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old_index, 0);
}

/// A search read that runs past the store's time limit is stopped by the database and the
/// search refused with too-costly; the same searches under the default limit are answered.
/// (SecantusDB enforces `maxTimeMS` on `count` but not on `find`, so on MongoDB only the count
/// is asked past the limit.)
async fn reads_past_the_time_limit(store: &dyn Store, limited: &dyn Store, pages_too: bool) {
    let p = Partition::Default;
    let writes: Vec<Write> = (0..3000)
        .map(|i| {
            create(
                "Observation",
                &format!("o{i:04}"),
                i,
                vec![tok("code", Some(LOINC), &format!("c{}", i % 2), None)],
            )
        })
        .collect();
    for chunk in writes.chunks(500) {
        store.commit(&p, chunk.to_vec()).await.unwrap();
    }
    let by_code = one(OBS, token("code", SystemMatch::Any, Some("c0")));
    assert_eq!(store.count(&p, &by_code).await.unwrap(), 1500);
    assert_eq!(store.search(&p, &by_code).await.unwrap().len(), 100);
    let refused = |r: Result<String, StoreError>| match r {
        Err(StoreError::TooCostly(m)) => assert!(m.contains("time limit"), "{m}"),
        other => panic!("expected too costly, got {other:?}"),
    };
    refused(limited.count(&p, &by_code).await.map(|n| n.to_string()));
    if pages_too {
        refused(
            limited
                .search(&p, &by_code)
                .await
                .map(|m| m.len().to_string()),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_past_the_time_limit() {
    let (store, dir) = sqlite_store().await;
    let limited = fhird::store::sqlite::SqliteStore::open(&dir.path().display().to_string())
        .unwrap()
        .with_search_max_time(std::time::Duration::ZERO);
    reads_past_the_time_limit(&*store, &limited, true).await;
    limited.close().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_reads_past_the_time_limit() {
    let spec = common::fresh_mongo_spec();
    let store = fhird::store::open(&spec).await.unwrap();
    let limited = fhird::store::mongo::MongoStore::connect(&spec)
        .await
        .unwrap()
        .with_search_max_time(std::time::Duration::from_millis(1));
    reads_past_the_time_limit(&*store, &limited, false).await;
    // The count ran out of time: the collection's next read is a first read again (how a
    // restarted SecantusDB gets back the scan the first read makes it do).
    let p = Partition::Default;
    assert!(!limited.first_reads(&p, "Observation").0);
    assert!(limited
        .current(&p, "Observation", "o0001")
        .await
        .unwrap()
        .is_some());
    assert!(limited.first_reads(&p, "Observation").0);
    limited.close().await;
    store.close().await;
}

/// A process's first read of a collection goes alone: concurrent searches and reads wait for
/// one look-up (`mongo_first_reads`), then all answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_first_reads_of_a_collection_go_alone() {
    let spec = common::fresh_mongo_spec();
    let writer = fhird::store::open(&spec).await.unwrap();
    let p = Partition::Default;
    let writes: Vec<Write> = (0..40)
        .map(|i| {
            create(
                "Observation",
                &format!("o{i:02}"),
                i,
                vec![tok("code", Some(LOINC), &format!("c{}", i % 4), None)],
            )
        })
        .collect();
    writer.commit(&p, writes).await.unwrap();
    let reader = std::sync::Arc::new(
        fhird::store::mongo::MongoStore::connect(&spec)
            .await
            .unwrap(),
    );
    assert_eq!(reader.first_reads(&p, "Observation"), (false, 0));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let reader = reader.clone();
        tasks.push(tokio::spawn(async move {
            let p = Partition::Default;
            match i % 3 {
                0 => {
                    let q = one(OBS, token("code", SystemMatch::Any, Some("c1")));
                    reader.search(&p, &q).await.unwrap().len() as u64
                }
                1 => {
                    let q = one(OBS, token("code", SystemMatch::Any, Some("c2")));
                    reader.count(&p, &q).await.unwrap()
                }
                _ => reader
                    .current(&p, "Observation", "o05")
                    .await
                    .unwrap()
                    .map_or(0, |_| 1),
            }
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers, [10, 10, 1, 10, 10, 1, 10, 10]);
    assert_eq!(reader.first_reads(&p, "Observation"), (true, 1));
    // Later reads, of this collection or another, make no more of them than collections.
    reader.current(&p, "Observation", "o07").await.unwrap();
    reader.current(&p, "Patient", "none").await.unwrap();
    assert_eq!(reader.first_reads(&p, "Observation"), (true, 2));
    reader.close().await;
    writer.close().await;
}

// ---- concurrent key look-ups ----------------------------------------------------------------

/// Many identifier searches at once (on MongoDB, read together in batches: mongo_lookups),
/// each answered exactly its own page: patients with two identifiers searched by both at
/// once, an identifier more patients share than a page holds, ORed identifiers, pages of two
/// sizes, and (second round) a patient past the key cap whose identifiers only its entries
/// hold.
async fn concurrent_key_lookups(store: &dyn Store) {
    let p = Partition::Default;
    let ident = |code: &str| tok("identifier", Some(MRN), code, None);
    // Patient i: `id-i`; the first 150 also `shared` (more than a batch of pages of 4 holds,
    // so batches fill and the pages they cut short are read alone); every fifth also
    // `alt-{i/5}`.
    let mut held: Vec<(String, Vec<String>)> = (0..200)
        .map(|i| {
            let mut codes = vec![format!("id-{i}")];
            if i < 150 {
                codes.push("shared".into());
            }
            if i % 5 == 0 {
                codes.push(format!("alt-{}", i / 5));
            }
            (spread_id(i), codes)
        })
        .collect();
    for (n, (id, codes)) in held.iter().enumerate() {
        let entries = codes.iter().map(|c| ident(c)).collect();
        store
            .commit(&p, vec![create("Patient", id, 100 + n as i64, entries)])
            .await
            .unwrap();
    }
    let searches: Vec<(Vec<String>, usize)> = (0..240)
        .map(|n| {
            let codes = match n % 6 {
                0 => vec![format!("id-{}", n % 200)],
                1 => vec![format!("alt-{}", n % 40)],
                2 => vec!["shared".to_string()],
                3 => vec![format!("id-{}", (n + 5) % 200), format!("alt-{}", n % 43)],
                4 => vec![format!("nobody-{n}")],
                _ => vec![format!("id-{}", (n * 7) % 200)],
            };
            (codes, if n % 5 == 0 { 100 } else { 4 })
        })
        .collect();
    let run = |held: Vec<(String, Vec<String>)>| {
        let searches = searches.clone();
        async move {
            let answers = futures_util::future::join_all(searches.iter().map(|(codes, limit)| {
                let mut q = query(
                    PATIENT,
                    vec![StoreFilter {
                        any: codes
                            .iter()
                            .map(|c| token("identifier", SystemMatch::Is(MRN.into()), Some(c)))
                            .collect(),
                        negate: false,
                    }],
                );
                q.limit = *limit;
                async move { ids(store, &Partition::Default, &q).await }
            }))
            .await;
            for ((codes, limit), got) in searches.iter().zip(answers) {
                let mut want: Vec<String> = held
                    .iter()
                    .filter(|(_, have)| have.iter().any(|h| codes.contains(h)))
                    .map(|(id, _)| id.clone())
                    .collect();
                want.sort();
                want.truncate(*limit);
                assert_eq!(got, want, "identifier={codes:?}, _count {limit}");
            }
        }
    };
    run(held.clone()).await;
    // A patient whose identifiers are past the key cap: found through its entries.
    let mut wide: Vec<String> = (0..9_000).map(|j| format!("w-{j}")).collect();
    wide.extend(["shared", "id-7", "alt-3"].map(String::from));
    let entries = wide.iter().map(|c| ident(c)).collect();
    store
        .commit(&p, vec![create("Patient", "0-wide", 900, entries)])
        .await
        .unwrap();
    held.push(("0-wide".into(), wide));
    run(held).await;
}

on_both_stores!(concurrent_key_lookups);

// ---- concurrent reads by id -----------------------------------------------------------------

/// What a read of one resource answers, in short: (type, id, version, deleted).
type Seen = Option<(String, String, u64, bool)>;

fn seen(v: Option<Version>) -> Seen {
    v.map(|v| (v.resource_type, v.id, v.version, v.body.is_none()))
}

/// Many reads by id at once (on MongoDB, read together in batches: mongo_lookups), each
/// answered with its own resource: Patients and Observations with the same ids, ids that do
/// not exist, deleted resources; then reads while the resources change, where a read after a
/// write's acknowledgement sees that write.
async fn concurrent_reads_by_id(store: &dyn Store) {
    let p = &Partition::Default;
    let n = 120;
    let mut writes = Vec::new();
    for i in 0..n {
        writes.push(create("Patient", &spread_id(i), 100 + i as i64, Vec::new()));
        if i % 2 == 0 {
            writes.push(create(
                "Observation",
                &spread_id(i),
                100 + i as i64,
                Vec::new(),
            ));
        }
    }
    for chunk in writes.chunks(40) {
        store.commit(p, chunk.to_vec()).await.unwrap();
    }
    let deleted: Vec<usize> = (0..n).step_by(7).collect();
    let deletions = deleted
        .iter()
        .map(|&i| delete("Patient", &spread_id(i), 2, 1000 + i as i64))
        .collect();
    store.commit(p, deletions).await.unwrap();
    let expected = |rt: &str, i: usize| -> Seen {
        let exists = i < n && (rt == "Patient" || i.is_multiple_of(2));
        let gone = rt == "Patient" && deleted.contains(&i);
        exists.then(|| (rt.to_string(), spread_id(i), if gone { 2 } else { 1 }, gone))
    };
    let reads: Vec<(&str, usize)> = (0..600)
        .map(|k| {
            let rt = if k % 3 == 0 { "Observation" } else { "Patient" };
            (rt, (k * 7) % (n + 20))
        })
        .collect();
    let got =
        futures_util::future::join_all(reads.iter().map(|(rt, i)| async move {
            seen(store.current(p, rt, &spread_id(*i)).await.unwrap())
        }))
        .await;
    for ((rt, i), got) in reads.iter().zip(got) {
        assert_eq!(got, expected(rt, *i), "{rt}/{}", spread_id(*i));
    }
    // Reads of several resources at once (an _include's targets), with the same ids in both
    // types, beside single reads: each gets its live resources.
    let many: Vec<Vec<(String, String)>> = (0..200)
        .map(|k| {
            let i = (k * 13) % (n + 20);
            [
                ("Patient", i),
                ("Observation", i),
                ("Patient", (i + 1) % (n + 20)),
            ]
            .iter()
            .map(|(rt, i)| (rt.to_string(), spread_id(*i)))
            .collect()
        })
        .collect();
    let singles =
        futures_util::future::join_all(reads[..200].iter().map(|(rt, i)| async move {
            seen(store.current(p, rt, &spread_id(*i)).await.unwrap())
        }));
    let (got, got_singles) = tokio::join!(
        futures_util::future::join_all(
            many.iter()
                .map(|refs| async move { store.read_many(p, refs).await.unwrap() })
        ),
        singles
    );
    for (refs, got) in many.iter().zip(got) {
        let mut got: Vec<Seen> = got.into_iter().map(|v| seen(Some(v))).collect();
        got.sort();
        let mut want: Vec<Seen> = refs
            .iter()
            .map(|(rt, id)| expected(rt, (0..n + 20).find(|&i| spread_id(i) == *id).unwrap()))
            .filter(|s| s.as_ref().is_some_and(|s| !s.3))
            .collect();
        want.sort();
        assert_eq!(got, want, "{refs:?}");
    }
    for ((rt, i), got) in reads.iter().zip(got_singles) {
        assert_eq!(got, expected(rt, *i), "{rt}/{}", spread_id(*i));
    }

    // Writers update patients 100..120 while readers read the others; each writer reads its
    // patient back after every acknowledged update.
    let writer = |i: usize| async move {
        let id = spread_id(i);
        for v in 2..=8u64 {
            store
                .commit(
                    p,
                    vec![update("Patient", &id, v, 2000 + v as i64, Vec::new())],
                )
                .await
                .unwrap();
            let back = seen(store.current(p, "Patient", &id).await.unwrap());
            assert_eq!(back, Some(("Patient".to_string(), id.clone(), v, false)));
        }
    };
    let writers = futures_util::future::join_all((100..n).filter(|i| i % 7 != 0).map(writer));
    let steady: Vec<(&str, usize)> = (0..400)
        .map(|k| {
            (
                if k % 4 == 0 { "Observation" } else { "Patient" },
                (k * 11) % 100,
            )
        })
        .collect();
    let readers =
        futures_util::future::join_all(steady.iter().map(|(rt, i)| async move {
            seen(store.current(p, rt, &spread_id(*i)).await.unwrap())
        }));
    let ((), got) = tokio::join!(
        async {
            writers.await;
        },
        readers
    );
    for ((rt, i), got) in steady.iter().zip(got) {
        assert_eq!(got, expected(rt, *i), "{rt}/{}", spread_id(*i));
    }

    // Versions read at once (vread): each its own, or none past the last.
    let vreads: Vec<(&str, usize, u64)> = (90..n)
        .flat_map(|i| (1..=9).map(move |v| ("Patient", i, v)))
        .chain((90..n).map(|i| ("Observation", i, 1)))
        .collect();
    let got = futures_util::future::join_all(vreads.iter().map(|(rt, i, v)| async move {
        seen(store.version(p, rt, &spread_id(*i), *v).await.unwrap())
    }))
    .await;
    for ((rt, i, v), got) in vreads.iter().zip(got) {
        let last = match (*rt, *i) {
            ("Observation", i) if i % 2 == 0 => 1,
            ("Observation", _) => 0,
            (_, i) if deleted.contains(&i) => 2,
            (_, i) if i >= 100 => 8,
            _ => 1,
        };
        let gone = *rt == "Patient" && deleted.contains(i) && *v == 2;
        let want = (*v <= last).then(|| (rt.to_string(), spread_id(*i), *v, gone));
        assert_eq!(got, want, "{rt}/{}/_history/{v}", spread_id(*i));
    }
}

on_both_stores!(concurrent_reads_by_id);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_reads_concurrent_reads_by_id_together() {
    let store = fhird::store::mongo::MongoStore::connect(&common::fresh_mongo_spec())
        .await
        .unwrap();
    concurrent_reads_by_id(&store).await;
    assert!(
        store.batched_reads() > 0,
        "no read was answered from a batch"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_reads_concurrent_key_lookups_together() {
    let store = fhird::store::mongo::MongoStore::connect(&common::fresh_mongo_spec())
        .await
        .unwrap();
    concurrent_key_lookups(&store).await;
    assert!(
        store.batched_lookups() > 0,
        "no search was answered from a batch"
    );
    store.close().await;
}
