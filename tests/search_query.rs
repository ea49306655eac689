//! Search request parsing (query string → SearchRequest) against the official R4 registry.
//! Expected values are worked out by hand from search.html and the SearchParameter files.

use fhird::fhir::outcome::ErrorKind;
use fhird::fhir::search::params::{ParamType, Registry};
use fhird::fhir::search::query::{
    parse, CodeSetRef, Cond, ContainedSearch, ContainedType, Criterion, Cursor, Filter, Include,
    ParseOptions, Prefix, SearchRequest, Sort, SortKey, SortValue, StringMode, Summary,
    SystemMatch, Total, UriMode,
};

const BASE: &str = "http://example.org/fhir";

// Microseconds since the epoch of some UTC midnights (date -u -d … +%s, × 10^6).
const Y1974_12_25: i64 = 157_161_600_000_000;
const Y1974_12_26: i64 = 157_248_000_000_000;
const Y2020: i64 = 1_577_836_800_000_000;
const Y2021: i64 = 1_609_459_200_000_000;
const Y2020_03: i64 = 1_583_020_800_000_000;
const Y2020_04: i64 = 1_585_699_200_000_000;

fn options(lenient: bool) -> ParseOptions<'static> {
    ParseOptions {
        base_url: BASE,
        default_count: 20,
        max_count: 100,
        lenient,
        content_search: true,
    }
}

fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(rt: Option<&str>, query: &[(&str, &str)], lenient: bool) -> Result<SearchRequest, String> {
    parse(Registry::r4(), rt, &pairs(query), &options(lenient)).map_err(|e| {
        assert_eq!(e.kind, ErrorKind::Invalid, "every parse error is a 400");
        e.message()
    })
}

fn ok(rt: &str, query: &[(&str, &str)]) -> SearchRequest {
    match run(Some(rt), query, false) {
        Ok(r) => r,
        Err(e) => panic!("{query:?} failed: {e}"),
    }
}

fn err(rt: &str, query: &[(&str, &str)]) -> String {
    match run(Some(rt), query, false) {
        Ok(r) => panic!("{query:?} parsed: {r:?}"),
        Err(e) => e,
    }
}

/// The one filter of a one-parameter request.
/// The one filter of a one-parameter request, with a chain's own criteria only (its
/// `Contained` alternatives are checked in `chains_are_also_read_inside_contained_resources`).
fn filter(rt: &str, key: &str, value: &str) -> Filter {
    let r = ok(rt, &[(key, value)]);
    assert_eq!(r.filters.len(), 1, "{key}={value}");
    Filter {
        any: own(r.filters[0].any.clone()),
        negate: r.filters[0].negate,
    }
}

fn own(criteria: Vec<Criterion>) -> Vec<Criterion> {
    criteria
        .into_iter()
        .filter(|c| !matches!(c, Criterion::Contained { .. }))
        .map(|c| match c {
            Criterion::Chain { param, inner } => Criterion::Chain {
                param,
                inner: inner
                    .into_iter()
                    .map(|(t, c)| {
                        let c = match *c {
                            Criterion::AnyOf(v) => own(v).remove(0),
                            other => own(vec![other]).remove(0),
                        };
                        (t, Box::new(c))
                    })
                    .collect(),
            },
            other => other,
        })
        .collect()
}

/// The one condition of a one-value, one-parameter request.
fn cond(rt: &str, key: &str, value: &str) -> Cond {
    let f = filter(rt, key, value);
    assert!(!f.negate);
    match f.any.as_slice() {
        [Criterion::Cond(c)] => c.clone(),
        other => panic!("{key}={value}: {other:?}"),
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

fn string_cond(param: &str, mode: StringMode, value: &str) -> Cond {
    Cond::String {
        param: s(param),
        mode,
        value: s(value),
    }
}

fn token(param: &str, system: SystemMatch, code: Option<&str>) -> Cond {
    Cond::Token {
        param: s(param),
        system,
        code: code.map(s),
    }
}

fn reference(param: &str, target_type: Option<&str>, id: Option<&str>, url: Option<&str>) -> Cond {
    Cond::Reference {
        param: s(param),
        target_type: target_type.map(s),
        id: id.map(s),
        url: url.map(s),
        version: None,
    }
}

fn leaf(c: Cond) -> Box<Criterion> {
    Box::new(Criterion::Cond(c))
}

// ---------- string ----------

#[test]
fn string_default_is_normalised_starts_with() {
    assert_eq!(
        cond("Patient", "name", "  Évé  MÜLLER "),
        string_cond("name", StringMode::StartsWith, "eve muller")
    );
}

#[test]
fn string_exact_keeps_the_text() {
    assert_eq!(
        cond("Patient", "family", "Évé"),
        string_cond("family", StringMode::StartsWith, "eve")
    );
    assert_eq!(
        cond("Patient", "family:exact", "Évé "),
        string_cond("family", StringMode::Exact, "Évé ")
    );
}

#[test]
fn string_contains_is_normalised() {
    assert_eq!(
        cond("Patient", "address:contains", "Straße"),
        string_cond("address", StringMode::Contains, "straße")
    );
}

#[test]
fn string_contains_values_are_bounded() {
    let at_limit = "é".repeat(500); // folds to 500 bytes of `e`
    assert_eq!(
        cond("Patient", "address:contains", &at_limit),
        string_cond("address", StringMode::Contains, &"e".repeat(500))
    );
    assert!(err("Patient", &[("address:contains", &"中".repeat(167))]).contains("501 bytes"));
    // Only `:contains` builds a pattern; a long starts-with value is an index range.
    cond("Patient", "address", &"x".repeat(5000));
}

#[test]
fn a_search_holds_at_most_a_thousand_values() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    ok("Patient", &[("family", &list(1000))]);
    let repeated: Vec<(String, String)> = (0..1000)
        .map(|i| ("_tag".into(), format!("t{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = repeated
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ok("Patient", &refs);
    assert!(err("Patient", &[("family", &list(1001))]).contains("1001 values"));
    let mut more = refs.clone();
    more.push(("gender", "male"));
    assert!(err("Patient", &more).contains("at most 1000"));
    // A chain's value counts once, however many types its reference may target.
    ok("Observation", &[("subject.name", &list(1000))]);
    assert!(err("Observation", &[("subject.name", &list(1001))]).contains("1001 values"));
}

#[test]
fn list_names_lists_by_id() {
    let r = ok("Condition", &[("_list", "42,a-b"), ("_list", "7")]);
    let lists: Vec<&Vec<Criterion>> = r.filters.iter().map(|f| &f.any).collect();
    assert_eq!(
        lists,
        [
            &vec![Criterion::List(s("42")), Criterion::List(s("a-b"))],
            &vec![Criterion::List(s("7"))],
        ]
    );
    assert!(err("Condition", &[("_list", "$current-problems")]).contains("Functional"));
    assert!(err("Condition", &[("_list:not", "42")]).contains("'_list'"));
    assert!(err("Condition", &[("_list", "Patient/1")]).contains("List id"));
    // At system level too.
    run(None, &[("_list", "42")], false).unwrap();
}

#[test]
fn sort_keys_are_bounded() {
    let keys = |n: usize| ["birthdate", "-family"].repeat(n / 2).join(",");
    assert_eq!(ok("Patient", &[("_sort", &keys(16))]).sort.len(), 16);
    assert!(err("Patient", &[("_sort", &keys(18))]).contains("at most 16"));
}

#[test]
fn control_characters_are_refused_in_every_value() {
    for (key, value) in [
        ("address:contains", "a\u{0}b"),
        ("name", "\u{7}"),
        ("gender", "http://x|\u{1b}"),
        ("birthdate", "2020\u{0}"),
        ("general-practitioner", "Practitioner/\u{0}"),
    ] {
        assert!(
            err("Patient", &[(key, value)]).contains("control character"),
            "{key}"
        );
    }
    // Tab, CR and LF are whitespace, which strings may hold.
    cond("Patient", "name", "a\tb");
}

#[test]
fn comma_is_or_and_repetition_is_and() {
    let r = ok("Patient", &[("given", "eve,adam"), ("given", "x")]);
    assert_eq!(
        r.filters,
        vec![
            Filter {
                any: vec![
                    Criterion::Cond(string_cond("given", StringMode::StartsWith, "eve")),
                    Criterion::Cond(string_cond("given", StringMode::StartsWith, "adam")),
                ],
                negate: false,
            },
            Filter {
                any: vec![Criterion::Cond(string_cond(
                    "given",
                    StringMode::StartsWith,
                    "x"
                ))],
                negate: false,
            },
        ]
    );
}

#[test]
fn escapes_keep_separators_literal() {
    let f = filter("Patient", "family:exact", r"a\,b,c\\,d\$e\|f");
    assert_eq!(
        f.any,
        vec![
            Criterion::Cond(string_cond("family", StringMode::Exact, "a,b")),
            Criterion::Cond(string_cond("family", StringMode::Exact, r"c\")),
            Criterion::Cond(string_cond("family", StringMode::Exact, "d$e|f")),
        ]
    );
}

#[test]
fn string_rejects_token_modifiers() {
    assert_eq!(
        err("Patient", &[("name:text", "x")]),
        "Modifier ':text' is not allowed on string parameter 'name'"
    );
}

// ---------- token ----------

#[test]
fn token_code_only_matches_any_system() {
    assert_eq!(
        cond("Patient", "gender", "male"),
        token("gender", SystemMatch::Any, Some("male"))
    );
}

#[test]
fn token_system_and_code() {
    assert_eq!(
        cond("Observation", "code", "http://loinc.org|1234-5"),
        token(
            "code",
            SystemMatch::Is(s("http://loinc.org")),
            Some("1234-5")
        )
    );
}

#[test]
fn token_no_system() {
    assert_eq!(
        cond("Observation", "code", "|1234-5"),
        token("code", SystemMatch::None, Some("1234-5"))
    );
}

#[test]
fn token_system_only() {
    assert_eq!(
        cond("Patient", "identifier", "http://acme.org/mrn|"),
        token(
            "identifier",
            SystemMatch::Is(s("http://acme.org/mrn")),
            None
        )
    );
}

#[test]
fn token_escaped_bar_is_part_of_the_code() {
    assert_eq!(
        cond("Patient", "identifier", r"urn:x|a\|b"),
        token("identifier", SystemMatch::Is(s("urn:x")), Some("a|b"))
    );
}

#[test]
fn token_malformed_values() {
    assert_eq!(
        err("Patient", &[("identifier", "a|b|c")]),
        "Invalid token value 'a|b|c' for 'identifier'"
    );
    assert_eq!(
        err("Patient", &[("gender", "|")]),
        "Invalid token value '|' for 'gender'"
    );
}

#[test]
fn token_not_negates_the_filter() {
    let f = filter("Patient", "gender:not", "male,female");
    assert_eq!(
        f,
        Filter {
            any: vec![
                Criterion::Cond(token("gender", SystemMatch::Any, Some("male"))),
                Criterion::Cond(token("gender", SystemMatch::Any, Some("female"))),
            ],
            negate: true,
        }
    );
}

#[test]
fn token_text_is_normalised() {
    assert_eq!(
        cond("Observation", "code:text", "Blood  Préssure"),
        Cond::TokenText {
            param: s("code"),
            text: s("blood pressure")
        }
    );
}

#[test]
fn token_of_type_on_identifier() {
    assert_eq!(
        cond(
            "Patient",
            "identifier:of-type",
            "http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053"
        ),
        token(
            "identifier:of-type",
            SystemMatch::Is(s("http://terminology.hl7.org/CodeSystem/v2-0203")),
            Some("MR|446053")
        )
    );
    assert_eq!(
        err("Patient", &[("identifier:of-type", "sys|MR")]),
        "Invalid value 'sys|MR' for 'identifier:of-type' (expected system|code|value)"
    );
}

#[test]
fn of_type_is_only_for_identifier_params() {
    assert_eq!(
        err("Patient", &[("gender:of-type", "a|b|c")]),
        "Modifier ':of-type' is not allowed on token parameter 'gender'"
    );
}

#[test]
fn token_rejects_exact() {
    assert_eq!(
        err("Patient", &[("gender:exact", "male")]),
        "Modifier ':exact' is not allowed on token parameter 'gender'"
    );
}

#[test]
fn terminology_modifiers_name_a_code_set() {
    let codes = |q: &SearchRequest| match &q.filters[0].any[0] {
        Criterion::Codes { param, set } => (param.clone(), set.clone()),
        other => panic!("not a code set: {other:?}"),
    };
    let q = ok("Observation", &[("code:in", "http://x/vs|2")]);
    assert!(!q.filters[0].negate);
    assert_eq!(
        codes(&q),
        ("code".into(), CodeSetRef::ValueSet("http://x/vs|2".into()))
    );
    let q = ok("Observation", &[("code:not-in", "ValueSet/abc")]);
    assert!(q.filters[0].negate, ":not-in negates the filter");
    assert_eq!(codes(&q).1, CodeSetRef::ValueSet("ValueSet/abc".into()));
    let q = ok("Observation", &[("code:below", "http://loinc.org|LP1\\|x")]);
    assert_eq!(
        codes(&q).1,
        CodeSetRef::Below {
            system: "http://loinc.org".into(),
            code: "LP1|x".into()
        }
    );
    let q = ok(
        "Condition",
        &[("clinical-status:above", "http://s|relapse")],
    );
    assert_eq!(
        codes(&q).1,
        CodeSetRef::Above {
            system: "http://s".into(),
            code: "relapse".into()
        }
    );
    for bad in ["relapse", "|relapse", "http://s|"] {
        assert!(
            err("Condition", &[("clinical-status:below", bad)]).contains("system|code"),
            "{bad}"
        );
    }
    // Not on other kinds of parameter.
    assert_eq!(
        err("Patient", &[("name:in", "http://x/vs")]),
        "Modifier ':in' is not allowed on string parameter 'name'"
    );
}

#[test]
fn unknown_modifier_is_refused() {
    assert_eq!(
        err("Patient", &[("gender:foo", "male")]),
        "Modifier ':foo' is not allowed on token parameter 'gender'"
    );
}

// ---------- date ----------

#[test]
fn date_without_prefix_is_eq_over_the_day() {
    assert_eq!(
        cond("Patient", "birthdate", "1974-12-25"),
        Cond::Date {
            param: s("birthdate"),
            prefix: Prefix::Eq,
            low: Y1974_12_25,
            high: Y1974_12_26 - 1
        }
    );
}

#[test]
fn date_every_prefix() {
    let cases = [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
        ("sa", Prefix::Sa),
        ("eb", Prefix::Eb),
        ("ap", Prefix::Ap),
    ];
    for (text, prefix) in cases {
        assert_eq!(
            cond("Observation", "date", &format!("{text}2020")),
            Cond::Date {
                param: s("date"),
                prefix,
                low: Y2020,
                high: Y2021 - 1
            }
        );
    }
}

#[test]
fn date_month_precision() {
    assert_eq!(
        cond("Observation", "date", "ge2020-03"),
        Cond::Date {
            param: s("date"),
            prefix: Prefix::Ge,
            low: Y2020_03,
            high: Y2020_04 - 1
        }
    );
}

#[test]
fn date_with_zone_and_unencoded_plus() {
    // 2013-01-14T10:00+01:00 is 09:00Z; the whole minute. A `+` decoded as space still works.
    let expected = Cond::Date {
        param: s("date"),
        prefix: Prefix::Lt,
        low: 1_358_154_000_000_000,
        high: 1_358_154_060_000_000 - 1,
    };
    assert_eq!(
        cond("Observation", "date", "lt2013-01-14T10:00+01:00"),
        expected
    );
    assert_eq!(
        cond("Observation", "date", "lt2013-01-14T10:00 01:00"),
        expected
    );
}

#[test]
fn date_invalid_values() {
    assert_eq!(
        err("Patient", &[("birthdate", "xx")]),
        "Invalid date value 'xx' for 'birthdate'"
    );
    assert_eq!(
        err("Patient", &[("birthdate", "gt2020-13-01")]),
        "Invalid date value 'gt2020-13-01' for 'birthdate'"
    );
    assert_eq!(
        err("Patient", &[("birthdate", "zz2020")]),
        "Invalid date value 'zz2020' for 'birthdate'"
    );
}

#[test]
fn date_refuses_string_modifiers() {
    assert_eq!(
        err("Patient", &[("birthdate:exact", "2020")]),
        "Modifier ':exact' is not allowed on date parameter 'birthdate'"
    );
}

// ---------- number ----------

#[test]
fn number_precision_range() {
    assert_eq!(
        cond("RiskAssessment", "probability", "100"),
        Cond::Number {
            param: s("probability"),
            prefix: Prefix::Eq,
            value: 100.0,
            low: 99.5,
            high: 100.5
        }
    );
}

#[test]
fn number_prefixes_and_exponent() {
    assert_eq!(
        cond("RiskAssessment", "probability", "gt1e2"),
        Cond::Number {
            param: s("probability"),
            prefix: Prefix::Gt,
            value: 100.0,
            low: 50.0,
            high: 150.0
        }
    );
    match cond("RiskAssessment", "probability", "le0.8") {
        Cond::Number {
            prefix: Prefix::Le,
            value,
            low,
            high,
            ..
        } => {
            assert_eq!(value, 0.8);
            assert!((low - 0.75).abs() < 1e-12 && (high - 0.85).abs() < 1e-12);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn number_invalid_values() {
    for v in ["abc", "1.", ".5", "NaN", "inf", "1e", "--1", "gt"] {
        assert_eq!(
            err("RiskAssessment", &[("probability", v)]),
            format!("Invalid number value '{v}' for 'probability'")
        );
    }
}

// ---------- quantity ----------

#[test]
fn quantity_with_system_and_code() {
    assert_eq!(
        cond(
            "Observation",
            "value-quantity",
            "5|http://unitsofmeasure.org|mg"
        ),
        Cond::Quantity {
            param: s("value-quantity"),
            prefix: Prefix::Eq,
            value: 5.0,
            low: 4.5,
            high: 5.5,
            system: Some(s("http://unitsofmeasure.org")),
            code: Some(s("mg"))
        }
    );
}

#[test]
fn quantity_code_without_system_and_value_only() {
    match cond("Observation", "value-quantity", "ap5.4||mg") {
        Cond::Quantity {
            prefix: Prefix::Ap,
            system: None,
            code: Some(c),
            ..
        } => assert_eq!(c, "mg"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        cond("Observation", "value-quantity", "lt60"),
        Cond::Quantity {
            param: s("value-quantity"),
            prefix: Prefix::Lt,
            value: 60.0,
            low: 59.5,
            high: 60.5,
            system: None,
            code: None
        }
    );
}

#[test]
fn quantity_invalid_values() {
    assert_eq!(
        err("Observation", &[("value-quantity", "5.4|mg")]),
        "Invalid quantity value '5.4|mg' for 'value-quantity' (expected [prefix]value[|system|code])"
    );
    assert_eq!(
        err("Observation", &[("value-quantity", "x||mg")]),
        "Invalid quantity value 'x' for 'value-quantity'"
    );
}

// ---------- reference ----------

#[test]
fn reference_plain_id() {
    assert_eq!(
        cond("Observation", "subject", "123"),
        reference("subject", None, Some("123"), None)
    );
}

/// A parameter with a single target type implies it for a plain id (`Observation.patient`
/// targets Patient only; `subject` above targets several).
#[test]
fn reference_plain_id_of_a_single_target_parameter() {
    assert_eq!(
        cond("Observation", "patient", "123"),
        reference("patient", Some("Patient"), Some("123"), None)
    );
    assert_eq!(
        cond("Observation", "patient", "Patient/123"),
        reference("patient", Some("Patient"), Some("123"), None)
    );
}

#[test]
fn reference_type_and_id() {
    assert_eq!(
        cond("Observation", "subject", "Patient/123"),
        reference("subject", Some("Patient"), Some("123"), None)
    );
    assert_eq!(
        cond("Observation", "subject", "Patient/123/_history/2"),
        reference("subject", Some("Patient"), Some("123"), None)
    );
}

#[test]
fn reference_type_modifier() {
    assert_eq!(
        cond("Observation", "subject:Patient", "123"),
        reference("subject", Some("Patient"), Some("123"), None)
    );
    assert_eq!(
        err("Observation", &[("subject:Practitioner", "123")]),
        "Modifier ':Practitioner' is not a target type of reference parameter 'subject'"
    );
    assert_eq!(
        err("Observation", &[("subject:Patient", "Group/1")]),
        "Reference 'Group/1' does not match the modifier ':Patient' of 'subject'"
    );
}

#[test]
fn reference_to_a_type_that_is_not_a_target() {
    assert_eq!(
        err("Patient", &[("organization", "Practitioner/1")]),
        "'Practitioner' is not a target type of reference parameter 'organization'"
    );
}

#[test]
fn reference_absolute_local_and_external() {
    assert_eq!(
        cond(
            "Observation",
            "subject",
            "http://example.org/fhir/Patient/123"
        ),
        reference("subject", Some("Patient"), Some("123"), None)
    );
    assert_eq!(
        cond(
            "Observation",
            "subject",
            "http://other.org/fhir/Patient/123"
        ),
        reference(
            "subject",
            None,
            None,
            Some("http://other.org/fhir/Patient/123")
        )
    );
    // Only under the base followed by `/`: a sibling path is external.
    assert_eq!(
        cond(
            "Observation",
            "subject",
            "http://example.org/fhirx/Patient/1"
        ),
        reference(
            "subject",
            None,
            None,
            Some("http://example.org/fhirx/Patient/1")
        )
    );
}

#[test]
fn reference_canonical_with_version() {
    assert_eq!(
        cond(
            "QuestionnaireResponse",
            "questionnaire",
            "http://hl7.org/fhir/Questionnaire/phq9|2.0"
        ),
        Cond::Reference {
            param: s("questionnaire"),
            target_type: None,
            id: None,
            url: Some(s("http://hl7.org/fhir/Questionnaire/phq9")),
            version: Some(s("2.0")),
        }
    );
}

#[test]
fn reference_identifier_modifier_is_a_token() {
    assert_eq!(
        cond(
            "Observation",
            "subject:identifier",
            "http://acme.org/mrn|12345"
        ),
        token(
            "subject:identifier",
            SystemMatch::Is(s("http://acme.org/mrn")),
            Some("12345")
        )
    );
}

#[test]
fn reference_invalid_values() {
    assert_eq!(
        err("Observation", &[("subject", "Nope/1")]),
        "Invalid reference value 'Nope/1' for 'subject'"
    );
    assert_eq!(
        err("Observation", &[("subject", "a b")]),
        "Invalid reference value 'a b' for 'subject'"
    );
}

// ---------- uri ----------

#[test]
fn uri_modes() {
    let url = "http://acme.org/fhir/ValueSet/123";
    for (key, mode) in [
        ("url", UriMode::Equals),
        ("url:above", UriMode::Above),
        ("url:below", UriMode::Below),
    ] {
        assert_eq!(
            cond("ValueSet", key, url),
            Cond::Uri {
                param: s("url"),
                mode,
                value: s(url)
            }
        );
    }
}

// ---------- composite ----------

#[test]
fn composite_token_quantity() {
    assert_eq!(
        cond(
            "Observation",
            "code-value-quantity",
            "http://loinc.org|8480-6$gt100"
        ),
        Cond::Composite {
            param: s("code-value-quantity"),
            parts: vec![
                token("0", SystemMatch::Is(s("http://loinc.org")), Some("8480-6")),
                Cond::Quantity {
                    param: s("1"),
                    prefix: Prefix::Gt,
                    value: 100.0,
                    low: 99.5,
                    high: 100.5,
                    system: None,
                    code: None
                },
            ]
        }
    );
}

#[test]
fn composite_token_date_and_escaped_dollar() {
    assert_eq!(
        cond("Observation", "code-value-date", r"a\$b$ge2020"),
        Cond::Composite {
            param: s("code-value-date"),
            parts: vec![
                token("0", SystemMatch::Any, Some("a$b")),
                Cond::Date {
                    param: s("1"),
                    prefix: Prefix::Ge,
                    low: Y2020,
                    high: Y2021 - 1
                },
            ]
        }
    );
}

#[test]
fn composite_wrong_part_count() {
    assert_eq!(
        err("Observation", &[("code-value-quantity", "8480-6")]),
        "Invalid composite value '8480-6' for 'code-value-quantity': expected 2 parts separated by '$'"
    );
    assert_eq!(
        err("Observation", &[("code-value-quantity", "8480-6$x")]),
        "Invalid quantity value 'x' for 'code-value-quantity (component 2)'"
    );
}

// ---------- :missing ----------

#[test]
fn missing_on_every_type() {
    for (rt, key, param, kind) in [
        ("Patient", "name:missing", "name", ParamType::String),
        ("Patient", "gender:missing", "gender", ParamType::Token),
        ("Patient", "birthdate:missing", "birthdate", ParamType::Date),
        (
            "Observation",
            "subject:missing",
            "subject",
            ParamType::Reference,
        ),
        (
            "Observation",
            "value-quantity:missing",
            "value-quantity",
            ParamType::Quantity,
        ),
        (
            "RiskAssessment",
            "probability:missing",
            "probability",
            ParamType::Number,
        ),
        ("ValueSet", "url:missing", "url", ParamType::Uri),
        (
            "Observation",
            "code-value-quantity:missing",
            "code-value-quantity",
            ParamType::Composite,
        ),
    ] {
        assert_eq!(
            cond(rt, key, "true"),
            Cond::Missing {
                param: s(param),
                kind,
                missing: true
            }
        );
    }
    assert_eq!(
        cond("Patient", "name:missing", "false"),
        Cond::Missing {
            param: s("name"),
            kind: ParamType::String,
            missing: false
        }
    );
    assert_eq!(
        err("Patient", &[("name:missing", "yes")]),
        "Invalid value 'yes' for 'name:missing' (expected true or false)"
    );
}

// ---------- common parameters ----------

#[test]
fn id_and_not_id() {
    assert_eq!(cond("Patient", "_id", "abc"), Cond::Id(vec![s("abc")]));
    // ORed ids are one list (one index look-up per id, no `$or` on MongoDB).
    let f = filter("Patient", "_id", "b,a,b");
    assert!(!f.negate);
    assert_eq!(f.any, vec![Criterion::Cond(Cond::Id(vec![s("a"), s("b")]))]);
    let f = filter("Patient", "_id:not", "a,b");
    assert!(f.negate);
    assert_eq!(f.any, vec![Criterion::Cond(Cond::Id(vec![s("a"), s("b")]))]);
    assert_eq!(
        err("Patient", &[("_id", "a b")]),
        "Invalid id 'a b' for '_id'"
    );
}

#[test]
fn last_updated_is_a_date() {
    assert_eq!(
        cond("Patient", "_lastUpdated", "gt2020"),
        Cond::LastUpdated {
            prefix: Prefix::Gt,
            low: Y2020,
            high: Y2021 - 1
        }
    );
    assert_eq!(
        err("Patient", &[("_lastUpdated:missing", "true")]),
        "Modifier ':missing' is not allowed on date parameter '_lastUpdated'"
    );
}

#[test]
fn tag_security_profile_source() {
    assert_eq!(
        cond("Patient", "_tag", "http://acme.org/tags|vip"),
        token(
            "_tag",
            SystemMatch::Is(s("http://acme.org/tags")),
            Some("vip")
        )
    );
    assert_eq!(
        cond("Claim", "_security", "R"),
        token("_security", SystemMatch::Any, Some("R"))
    );
    assert_eq!(
        cond(
            "Patient",
            "_profile",
            "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
        ),
        Cond::Uri {
            param: s("_profile"),
            mode: UriMode::Equals,
            value: s("http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient")
        }
    );
    assert_eq!(
        cond("Patient", "_source", "http://ehr.example/x"),
        Cond::Uri {
            param: s("_source"),
            mode: UriMode::Equals,
            value: s("http://ehr.example/x")
        }
    );
}

#[test]
fn unsupported_common_parameters() {
    assert_eq!(
        err("Patient", &[("_query", "x")]),
        "Search parameter '_query' is not supported"
    );
}

/// `_contained` and `_containedType`: their values, once each, type level only; the
/// criteria stay as parsed (the interactions layer reads them inside contained resources).
#[test]
fn contained_and_contained_type() {
    let r = ok("Medication", &[("code", "x")]);
    assert_eq!(
        (r.contained, r.contained_type),
        (ContainedSearch::Off, ContainedType::Container)
    );
    let r = ok(
        "Medication",
        &[
            ("code", "x"),
            ("_contained", "both"),
            ("_containedType", "contained"),
        ],
    );
    assert_eq!(
        (r.contained, r.contained_type),
        (ContainedSearch::Both, ContainedType::Contained)
    );
    assert_eq!(r.filters.len(), 1);
    assert!(r
        .canonical
        .iter()
        .any(|(k, v)| k == "_contained" && v == "both"));
    assert_eq!(
        ok("Medication", &[("_contained", "true")]).contained,
        ContainedSearch::Only
    );
    assert_eq!(
        ok("Medication", &[("_contained", "false")]).contained,
        ContainedSearch::Off
    );
    assert_eq!(
        err("Medication", &[("_contained", "x")]),
        "Invalid _contained value 'x' (expected false, true or both)"
    );
    assert_eq!(
        err("Medication", &[("_containedType", "x")]),
        "Invalid _containedType value 'x' (expected container or contained)"
    );
    assert_eq!(
        err(
            "Medication",
            &[("_contained", "true"), ("_contained", "both")]
        ),
        "'_contained' may appear only once"
    );
    assert!(err("Medication", &[("_contained:x", "true")]).contains("Modifier ':x'"));
    assert!(run(None, &[("_contained", "true")], false)
        .unwrap_err()
        .contains("type-level"));
}

/// search.html's own example, `_text=(bone OR liver) and metastases`: each AND-ed group of
/// words is one filter whose values are its words, each a starts-with on the parameter's
/// word entries.
#[test]
fn text_searches_become_groups_of_words() {
    let word = |p: &str, w: &str| {
        Criterion::Cond(Cond::String {
            param: s(p),
            mode: StringMode::StartsWith,
            value: s(w),
        })
    };
    let group = |p: &str, words: &[&str]| Filter {
        any: words.iter().map(|w| word(p, w)).collect(),
        negate: false,
    };
    let r = ok("Condition", &[("_text", "(bone OR liver) and Metastases")]);
    assert_eq!(
        r.filters,
        [
            group("_text", &["bone", "liver"]),
            group("_text", &["metastases"])
        ]
    );
    // Comma ORs whole expressions; repetition ANDs them.
    let r = ok(
        "Condition",
        &[("_content", "bone,liver Ölz"), ("_content", "x")],
    );
    assert_eq!(
        r.filters,
        [
            group("_content", &["bone", "liver"]),
            group("_content", &["bone", "olz"]),
            group("_content", &["x"])
        ]
    );
    // At the end of a chain, one word per value.
    let r = ok(
        "Observation",
        &[("subject:Patient._text", "Chalmers,peter")],
    );
    match &r.filters[0].any[0] {
        Criterion::Chain { inner, .. } => {
            assert_eq!(*inner[0].1, word("_text", "chalmers"))
        }
        other => panic!("{other:?}"),
    }
    // No item: ignored, like any parameter without a value.
    let r = ok("Condition", &[("_text", ","), ("code", "x")]);
    assert_eq!((r.filters.len(), r.canonical.len()), (1, 1));
    // `:missing` as for any parameter.
    assert_eq!(
        cond("Patient", "_text:missing", "true"),
        Cond::Missing {
            param: s("_text"),
            kind: ParamType::String,
            missing: true
        }
    );
    assert!(err("Condition", &[("_text", "not bone")]).contains("NOT"));
    assert!(err("Condition", &[("_text:exact", "bone")]).contains("modifier"));
    assert!(err("Bundle", &[("_text", "bone")]).contains("_text"));
    assert!(err("Patient", &[("_sort", "_content")]).contains("_content"));
}

/// `_content` is indexed only on a server that asks for it; elsewhere it is an unknown
/// parameter (400, or ignored under lenient handling).
#[test]
fn content_search_needs_the_server_option() {
    let off = ParseOptions {
        content_search: false,
        ..options(false)
    };
    for (k, v) in [
        ("_content", "bone"),
        ("_content:missing", "true"),
        ("subject:Patient._content", "bone"),
        ("_has:Observation:subject:_content", "bone"),
    ] {
        let e = parse(Registry::r4(), Some("Patient"), &pairs(&[(k, v)]), &off).unwrap_err();
        assert!(
            e.message().contains("--content-search"),
            "{k}: {}",
            e.message()
        );
    }
    let lenient = ParseOptions {
        lenient: true,
        ..off
    };
    let r = parse(
        Registry::r4(),
        Some("Patient"),
        &pairs(&[("_content", "bone"), ("_text", "bone")]),
        &lenient,
    )
    .unwrap();
    assert_eq!((r.ignored.len(), r.filters.len()), (1, 1));
}

#[test]
fn near_takes_latitude_longitude_distance_and_units() {
    let near = |lat: f64, lng: f64, km: f64| Cond::Near {
        param: s("near"),
        lat,
        lng,
        km,
    };
    assert_eq!(
        cond("Location", "near", "42.2565|-83.6947|11.2|km"),
        near(42.2565, -83.6947, 11.2)
    );
    // Units default to km; a distance in another UCUM length unit is converted.
    assert_eq!(
        cond("Location", "near", "-17|179.9|3"),
        near(-17.0, 179.9, 3.0)
    );
    assert_eq!(cond("Location", "near", "0|0|250|m"), near(0.0, 0.0, 0.25));
    assert_eq!(
        cond("Location", "near", "0|0|10|[mi_i]"),
        near(0.0, 0.0, 16.09344)
    );
    // Without a distance the server's own: 10 km, documented in docs/search.md.
    assert_eq!(cond("Location", "near", "1|2"), near(1.0, 2.0, 10.0));
    assert_eq!(cond("Location", "near", "1|2||"), near(1.0, 2.0, 10.0));
    // ORed positions.
    let f = filter("Location", "near", "1|2|3,4|5|6");
    assert_eq!(f.any.len(), 2);
    assert_eq!(
        cond("Location", "near:missing", "true"),
        Cond::Missing {
            param: s("near"),
            kind: ParamType::Special,
            missing: true
        }
    );
}

#[test]
fn bad_near_values_are_refused_with_the_reason() {
    let bad = |v: &str| err("Location", &[("near", v)]);
    let expected = "expected latitude|longitude|distance|units, e.g. 42.2565|-83.6947|10|km";
    for (value, why) in [
        ("42", "two to four parts"),
        ("1|2|3|km|x", "two to four parts"),
        ("91|0|1|km", "the latitude is not within -90..90"),
        ("0|-180.5|1|km", "the longitude is not within -180..180"),
        ("north|0|1|km", "the latitude is not a decimal"),
        ("0|0|1e999|km", "the distance is not a decimal"),
        ("0|0|-1|km", "the distance is negative"),
        ("0|0||km", "units without a distance"),
        (
            "0|0|1|furlong",
            "unknown distance unit 'furlong' (km, m, [mi_i], [mi_us], [nmi_i], [ft_i])",
        ),
    ] {
        assert_eq!(
            bad(value),
            format!("Invalid value '{value}' for 'near' ({expected}): {why}"),
            "{value}"
        );
    }
    assert_eq!(
        err("Location", &[("near:exact", "0|0|1|km")]),
        "Modifier ':exact' is not allowed on special parameter 'near'"
    );
    assert_eq!(
        err("Location", &[("_sort", "near")]),
        "Sorting by special parameter 'near' is not supported"
    );
}

#[test]
fn unknown_parameter() {
    assert_eq!(
        err("Patient", &[("foo", "bar")]),
        "Unknown search parameter 'foo' for Patient"
    );
}

#[test]
fn format_and_pretty_are_ignored() {
    let r = ok(
        "Patient",
        &[("_format", "json"), ("_pretty", "true"), ("gender", "male")],
    );
    assert_eq!(r.filters.len(), 1);
    assert_eq!(r.canonical, vec![(s("gender"), s("male"))]);
}

#[test]
fn empty_values_are_ignored() {
    let r = ok("Patient", &[("name", ""), ("gender", ",,"), ("_count", "")]);
    assert!(r.filters.is_empty());
    assert_eq!(r.count, 20);
    assert!(r.canonical.is_empty());
}

// ---------- chains ----------

#[test]
fn chain_fans_out_to_targets_that_define_the_parameter() {
    // Observation.subject targets Group, Device, Patient, Location; only Patient and Location
    // define `name`.
    let f = filter("Observation", "subject.name", "peter");
    assert_eq!(
        f.any,
        vec![Criterion::Chain {
            param: s("subject"),
            inner: vec![
                (
                    s("Patient"),
                    leaf(string_cond("name", StringMode::StartsWith, "peter"))
                ),
                (
                    s("Location"),
                    leaf(string_cond("name", StringMode::StartsWith, "peter"))
                ),
            ],
        }]
    );
}

#[test]
fn chain_with_type_modifier_and_leaf_modifier() {
    let f = filter("Observation", "subject:Patient.name:exact", "Peter");
    assert_eq!(
        f.any,
        vec![Criterion::Chain {
            param: s("subject"),
            inner: vec![(
                s("Patient"),
                leaf(string_cond("name", StringMode::Exact, "Peter"))
            )],
        }]
    );
}

#[test]
fn multi_level_chain() {
    // Observation.patient targets Patient and Group; only Patient has `organization`.
    let f = filter("Observation", "patient.organization.name", "Acme");
    assert_eq!(
        f.any,
        vec![Criterion::Chain {
            param: s("patient"),
            inner: vec![(
                s("Patient"),
                Box::new(Criterion::Chain {
                    param: s("organization"),
                    inner: vec![(
                        s("Organization"),
                        leaf(string_cond("name", StringMode::StartsWith, "acme"))
                    )],
                })
            )],
        }]
    );
}

#[test]
fn chain_values_or_per_value() {
    let f = filter("Patient", "organization.name", "a,b");
    assert_eq!(f.any.len(), 2);
    assert_eq!(
        f.any[1],
        Criterion::Chain {
            param: s("organization"),
            inner: vec![(
                s("Organization"),
                leaf(string_cond("name", StringMode::StartsWith, "b"))
            )],
        }
    );
}

#[test]
fn chain_errors() {
    assert_eq!(
        err("Patient", &[("name.family", "x")]),
        "'name' is not a reference parameter, so it cannot be chained"
    );
    assert_eq!(
        err("Observation", &[("subject.nope", "x")]),
        "No target type of 'subject' has a search parameter 'nope'"
    );
    assert_eq!(
        err(
            "Observation",
            &[("subject:Patient.gender:not-in", "http://x/vs")]
        ),
        "Modifier ':not-in' on 'gender' is not supported inside a chain or _has"
    );
}

#[test]
fn not_at_the_end_of_a_chain_negates_all_its_values_at_once() {
    let q = ok(
        "Observation",
        &[("subject:Patient.gender:not", "male,female")],
    );
    assert_eq!(q.filters.len(), 1);
    let f = &q.filters[0];
    assert!(
        !f.negate,
        "the outer filter is positive: its subject is such a patient"
    );
    let [Criterion::Chain { param, inner }] = f.any.as_slice() else {
        panic!("{f:?}");
    };
    assert_eq!(param, "subject");
    let [(ty, crit)] = inner.as_slice() else {
        panic!("{inner:?}");
    };
    assert_eq!(ty, "Patient");
    let Criterion::NoneOf(values) = crit.as_ref() else {
        panic!("{crit:?}");
    };
    assert_eq!(
        values.len(),
        2,
        "one group of both values: neither male nor female"
    );
    let q = ok(
        "Patient",
        &[("_has:Observation:subject:status:not", "final")],
    );
    let [Criterion::Has { inner, .. }] = q.filters[0].any.as_slice() else {
        panic!("{:?}", q.filters);
    };
    assert!(matches!(inner.as_ref(), Criterion::NoneOf(v) if v.len() == 1));
}

#[test]
fn chain_depth_cap() {
    // Organization.partof → Organization: 4 links are fine, 5 are not.
    let ok4 = ok("Organization", &[("partof.partof.partof.partof.name", "x")]);
    assert_eq!(ok4.filters.len(), 1);
    assert_eq!(
        err(
            "Organization",
            &[("partof.partof.partof.partof.partof.name", "x")]
        ),
        "Chains and _has may nest at most 4 levels deep"
    );
}

// ---------- _has ----------

#[test]
fn reverse_chain() {
    let f = filter("Patient", "_has:Observation:patient:code", "1234-5");
    assert_eq!(
        f.any,
        vec![Criterion::Has {
            resource_type: s("Observation"),
            param: s("patient"),
            inner: leaf(token("code", SystemMatch::Any, Some("1234-5"))),
        }]
    );
}

#[test]
fn nested_reverse_chain() {
    let f = filter(
        "Patient",
        "_has:Observation:patient:_has:AuditEvent:entity:agent",
        "MyUserId",
    );
    assert_eq!(
        f.any,
        vec![Criterion::Has {
            resource_type: s("Observation"),
            param: s("patient"),
            inner: Box::new(Criterion::Has {
                resource_type: s("AuditEvent"),
                param: s("entity"),
                inner: Box::new(Criterion::Cond(reference(
                    "agent",
                    None,
                    Some("MyUserId"),
                    None
                ))),
            }),
        }]
    );
}

#[test]
fn chain_inside_reverse_chain() {
    let f = filter(
        "Patient",
        "_has:Observation:subject:performer:Practitioner.family",
        "smith",
    );
    assert_eq!(
        f.any,
        vec![Criterion::Has {
            resource_type: s("Observation"),
            param: s("subject"),
            inner: Box::new(Criterion::Chain {
                param: s("performer"),
                inner: vec![(
                    s("Practitioner"),
                    leaf(string_cond("family", StringMode::StartsWith, "smith"))
                )],
            }),
        }]
    );
}

#[test]
fn reverse_chain_errors() {
    assert_eq!(
        err("Patient", &[("_has:Observation:patient", "x")]),
        "Invalid parameter '_has:Observation:patient': expected _has:[type]:[parameter]:[criterion]"
    );
    assert_eq!(
        err("Patient", &[("_has:Observation:code:status", "final")]),
        "'code' of Observation is not a reference parameter, so it cannot be used in _has"
    );
    assert_eq!(
        err("Organization", &[("_has:Observation:patient:code", "x")]),
        "'patient' of Observation does not reference Organization"
    );
    assert_eq!(
        err("Patient", &[("_has:Nope:patient:code", "x")]),
        "Unknown resource type 'Nope' in '_has:Nope:patient:code'"
    );
    assert_eq!(
        err(
            "Patient",
            &[("_has:Observation:patient:_has:Observation:has-member:_has:Observation:has-member:_has:Observation:has-member:_has:Observation:has-member:code", "x")]
        ),
        "Chains and _has may nest at most 4 levels deep"
    );
}

// ---------- _sort ----------

#[test]
fn sort_keys() {
    let r = ok("Patient", &[("_sort", "-birthdate,_id,name,-_lastUpdated")]);
    assert_eq!(
        r.sort,
        vec![
            Sort {
                key: SortKey::Param {
                    param: s("birthdate"),
                    kind: ParamType::Date
                },
                descending: true
            },
            Sort {
                key: SortKey::Id,
                descending: false
            },
            Sort {
                key: SortKey::Param {
                    param: s("name"),
                    kind: ParamType::String
                },
                descending: false
            },
            Sort {
                key: SortKey::LastUpdated,
                descending: true
            },
        ]
    );
}

#[test]
fn sort_errors() {
    assert_eq!(
        err("Patient", &[("_sort", "foo")]),
        "Unknown sort parameter 'foo' for Patient"
    );
    assert_eq!(
        err("Observation", &[("_sort", "code-value-quantity")]),
        "Sorting by composite parameter 'code-value-quantity' is not supported"
    );
}

// ---------- _count, _total, _summary, _elements ----------

#[test]
fn count_default_cap_and_zero() {
    assert_eq!(ok("Patient", &[]).count, 20);
    assert_eq!(ok("Patient", &[("_count", "5")]).count, 5);
    assert_eq!(ok("Patient", &[("_count", "0")]).count, 0);
    assert_eq!(ok("Patient", &[("_count", "5000")]).count, 100);
    assert_eq!(
        ok("Patient", &[("_count", "99999999999999999999999")]).count,
        100
    );
    for v in ["-1", "abc", "1.5"] {
        assert_eq!(
            err("Patient", &[("_count", v)]),
            format!("Invalid _count value '{v}' (expected a non-negative integer)")
        );
    }
    assert_eq!(
        err("Patient", &[("_count", "1"), ("_count", "2")]),
        "'_count' may appear only once"
    );
}

#[test]
fn total_summary_elements() {
    let r = ok(
        "Patient",
        &[
            ("_total", "accurate"),
            ("_summary", "count"),
            ("_elements", "name, Patient.birthDate,gender"),
        ],
    );
    assert_eq!(r.total, Total::Accurate);
    assert_eq!(r.summary, Summary::Count);
    assert_eq!(r.elements, vec![s("name"), s("birthDate"), s("gender")]);
    let d = ok("Patient", &[]);
    assert_eq!((d.total, d.summary), (Total::None, Summary::False));
    assert_eq!(
        ok("Patient", &[("_total", "estimate")]).total,
        Total::Estimate
    );
    assert_eq!(
        ok("Patient", &[("_summary", "text")]).summary,
        Summary::Text
    );
    assert_eq!(
        err("Patient", &[("_total", "all")]),
        "Invalid _total value 'all' (expected none, estimate or accurate)"
    );
    assert_eq!(
        err("Patient", &[("_summary", "yes")]),
        "Invalid _summary value 'yes' (expected true, text, data, count or false)"
    );
    assert_eq!(
        err("Patient", &[("_elements", "name,a-b")]),
        "Invalid element name 'a-b' in _elements"
    );
}

// ---------- _include / _revinclude ----------

#[test]
fn includes() {
    let r = ok(
        "MedicationRequest",
        &[
            ("_include", "MedicationRequest:patient"),
            (
                "_include:iterate",
                "Patient:general-practitioner:Practitioner",
            ),
            ("_include:recurse", "Patient:organization"),
            ("_revinclude", "Provenance:target"),
        ],
    );
    assert_eq!(
        r.include,
        vec![
            Include {
                source_type: s("MedicationRequest"),
                param: Some(s("patient")),
                target_type: None,
                iterate: false
            },
            Include {
                source_type: s("Patient"),
                param: Some(s("general-practitioner")),
                target_type: Some(s("Practitioner")),
                iterate: true
            },
            Include {
                source_type: s("Patient"),
                param: Some(s("organization")),
                target_type: None,
                iterate: true
            },
        ]
    );
    assert_eq!(
        r.revinclude,
        vec![Include {
            source_type: s("Provenance"),
            param: Some(s("target")),
            target_type: None,
            iterate: false
        }]
    );
}

#[test]
fn include_wildcards() {
    let r = ok(
        "Observation",
        &[("_include", "*"), ("_revinclude", "Provenance:*")],
    );
    assert_eq!(
        r.include,
        vec![Include {
            source_type: s("Observation"),
            param: None,
            target_type: None,
            iterate: false
        }]
    );
    assert_eq!(
        r.revinclude,
        vec![Include {
            source_type: s("Provenance"),
            param: None,
            target_type: None,
            iterate: false
        }]
    );
}

#[test]
fn revinclude_wildcard_is_any_referencing_type() {
    let r = ok("Patient", &[("_revinclude:iterate", "*")]);
    assert_eq!(
        r.revinclude,
        vec![Include {
            source_type: s("*"),
            param: None,
            target_type: None,
            iterate: true
        }]
    );
}

#[test]
fn include_errors() {
    assert_eq!(
        err("Patient", &[("_include", "Patient:name")]),
        "'name' of Patient is not a reference parameter, so it cannot be used in _include"
    );
    assert_eq!(
        err("Patient", &[("_include", "Patient:foo")]),
        "Unknown search parameter 'foo' for Patient in _include"
    );
    assert_eq!(
        err("Patient", &[("_include", "Patient:organization:Patient")]),
        "'Patient' is not a target type of 'organization' of Patient in _include"
    );
    assert_eq!(
        err("Patient", &[("_include", "patient")]),
        "Invalid _include value 'patient' (expected [type]:[parameter] or [type]:[parameter]:[target type])"
    );
    assert_eq!(
        err("Patient", &[("_include:foo", "Patient:organization")]),
        "Modifier ':foo' is not allowed on '_include'"
    );
}

// ---------- _cursor ----------

#[test]
fn cursor_round_trip() {
    let c = Cursor {
        values: vec![
            SortValue::Null,
            SortValue::Int(-42),
            SortValue::Float(0.1 + 0.2),
            SortValue::Text(s("Müller, \"Eve\" $|\\ 😀")),
        ],
        resource_type: s("Patient"),
        id: s("a-1.b"),
        backward: true,
    };
    let text = c.encode();
    assert!(text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(Cursor::decode(&text), Some(c.clone()));
    let r = ok("Patient", &[("_cursor", &text), ("gender", "male")]);
    assert_eq!(r.cursor, Some(c));
    assert_eq!(r.canonical, vec![(s("gender"), s("male"))]);
}

#[test]
fn malformed_cursor() {
    for bad in ["!!", "abc", "W10", "WyIyIiwiZiIsIlBhdGllbnQiLCIxIl0"] {
        assert_eq!(Cursor::decode(bad), None, "{bad}");
        assert_eq!(err("Patient", &[("_cursor", bad)]), "Invalid _cursor value");
    }
    // A well-formed cursor of version 1 decodes: ["1","f","Patient","1"].
    assert_eq!(
        Cursor::decode("WyIxIiwiZiIsIlBhdGllbnQiLCIxIl0"),
        Some(Cursor {
            values: vec![],
            resource_type: s("Patient"),
            id: s("1"),
            backward: false
        })
    );
}

// ---------- system level ----------

#[test]
fn system_level_without_type_allows_resource_parameters_only() {
    let r = run(None, &[("_id", "1"), ("_tag", "x")], false).unwrap();
    assert!(r.resource_types.is_empty());
    assert_eq!(r.filters.len(), 2);
    assert_eq!(
        run(None, &[("name", "x")], false).unwrap_err(),
        "Unknown search parameter 'name' for a system-level search without _type"
    );
}

#[test]
fn system_level_with_type() {
    let r = run(
        None,
        &[
            ("_type", "Patient,Practitioner"),
            ("name", "eve"),
            ("_sort", "name"),
        ],
        false,
    )
    .unwrap();
    assert_eq!(r.resource_types, vec![s("Patient"), s("Practitioner")]);
    assert_eq!(
        r.filters[0].any,
        vec![Criterion::Cond(string_cond(
            "name",
            StringMode::StartsWith,
            "eve"
        ))]
    );
    assert_eq!(r.canonical[0], (s("_sort"), s("name")));
    assert_eq!(
        run(
            None,
            &[("_type", "Patient,Observation"), ("gender", "male")],
            false
        )
        .unwrap_err(),
        "Unknown search parameter 'gender' for Observation"
    );
    assert_eq!(
        run(None, &[("_type", "Patient,Nope")], false).unwrap_err(),
        "Unknown resource type 'Nope' in _type"
    );
}

#[test]
fn type_is_system_level_only() {
    assert_eq!(
        err("Patient", &[("_type", "Patient")]),
        "_type is only allowed in a system-level search"
    );
}

// ---------- lenient ----------

#[test]
fn lenient_skips_unknown_parameters_and_modifiers() {
    let r = run(
        Some("Patient"),
        &[
            ("foo", "1"),
            ("gender:exact", "male"),
            ("_query", "x"),
            ("code:in", "y"),
            ("name", "eve"),
        ],
        true,
    )
    .unwrap();
    assert_eq!(
        r.ignored,
        vec![
            (s("foo"), s("Unknown search parameter 'foo' for Patient")),
            (
                s("gender:exact"),
                s("Modifier ':exact' is not allowed on token parameter 'gender'")
            ),
            (s("_query"), s("Search parameter '_query' is not supported")),
            (
                s("code:in"),
                s("Unknown search parameter 'code' for Patient")
            ),
        ]
    );
    assert_eq!(r.filters.len(), 1);
    assert_eq!(r.canonical, vec![(s("name"), s("eve"))]);
}

#[test]
fn lenient_still_refuses_bad_values() {
    assert_eq!(
        run(Some("Patient"), &[("birthdate", "xx")], true).unwrap_err(),
        "Invalid date value 'xx' for 'birthdate'"
    );
    assert_eq!(
        run(Some("Patient"), &[("_count", "-1")], true).unwrap_err(),
        "Invalid _count value '-1' (expected a non-negative integer)"
    );
}

// ---------- canonical ----------

#[test]
fn canonical_is_sorted_by_name_and_stable() {
    let r = ok(
        "Patient",
        &[
            ("name", "b"),
            ("_count", "10"),
            ("gender", "male"),
            ("name", "a"),
            ("_format", "json"),
        ],
    );
    assert_eq!(
        r.canonical,
        vec![
            (s("_count"), s("10")),
            (s("gender"), s("male")),
            (s("name"), s("b")),
            (s("name"), s("a")),
        ]
    );
}

// ---------- robustness ----------

#[test]
fn odd_input_never_panics() {
    let long = "x".repeat(100_000);
    let keys = [
        "",
        ":",
        "::",
        ".",
        "..",
        "name:",
        "name::",
        "_has",
        "_has:",
        "_has::::",
        "subject.",
        "subject:.name",
        "subject:Patient.",
        ".name",
        "code-value-quantity",
        "_sort",
        "_include",
        "_cursor",
        "_count",
        "_elements",
        "名前",
        "subject:Patient.name:exact",
        "birthdate",
        "value-quantity",
        "_lastUpdated",
        "identifier:of-type",
        "_type",
        "subject",
        "_id",
    ];
    let values = [
        "",
        "\\",
        "\\\\",
        "$$",
        "$",
        "|",
        "||",
        "|||",
        ",",
        "::",
        "gt",
        "ap",
        "e",
        "😀",
        "é\u{301}",
        "-",
        "*",
        "\u{0}",
        "Patient/",
        "/1",
        "http://example.org/fhir/",
        "gt-",
        &long,
    ];
    for rt in [Some("Patient"), Some("Observation"), None] {
        for k in keys {
            for v in values {
                for lenient in [false, true] {
                    let _ = parse(Registry::r4(), rt, &pairs(&[(k, v)]), &options(lenient));
                }
            }
        }
    }
}

#[test]
fn of_type_works_on_every_identifier_parameter() {
    // Every R4 `identifier` token parameter selects Identifier elements.
    let registry = Registry::r4();
    let mut checked = 0;
    for rt in fhird::fhir::element_types::resource_types() {
        let Some(p) = registry.param(rt, "identifier") else {
            continue;
        };
        if p.kind != ParamType::Token || p.unsupported.is_some() {
            continue;
        }
        checked += 1;
        assert_eq!(
            cond(rt, "identifier:of-type", "s|MR|1"),
            token("identifier:of-type", SystemMatch::Is(s("s")), Some("MR|1")),
            "{rt}"
        );
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn cursor_rejects_unknown_type_direction_and_value_tags() {
    // ["1","f","Nope","1"], ["1","x","Patient","1"], ["1","f","Patient","1","q"]
    for bad in [
        "WyIxIiwiZiIsIk5vcGUiLCIxIl0",
        "WyIxIiwieCIsIlBhdGllbnQiLCIxIl0",
        "WyIxIiwiZiIsIlBhdGllbnQiLCIxIiwicSJd",
    ] {
        assert_eq!(Cursor::decode(bad), None, "{bad}");
    }
}

#[test]
fn system_level_include_star_and_has() {
    let r = run(
        None,
        &[
            ("_type", "Patient,Group"),
            ("_include", "*"),
            ("_has:Observation:subject:code", "x"),
        ],
        false,
    )
    .unwrap();
    assert_eq!(
        r.include,
        vec![
            Include {
                source_type: s("Patient"),
                param: None,
                target_type: None,
                iterate: false
            },
            Include {
                source_type: s("Group"),
                param: None,
                target_type: None,
                iterate: false
            },
        ]
    );
    assert_eq!(
        r.filters[0].any,
        vec![Criterion::Has {
            resource_type: s("Observation"),
            param: s("subject"),
            inner: leaf(token("code", SystemMatch::Any, Some("x"))),
        }]
    );
    assert_eq!(
        run(None, &[("_include", "*")], false).unwrap_err(),
        "_include=* needs the searched types (use _type)"
    );
}

#[test]
fn missing_and_identifier_inside_a_chain() {
    let f = filter(
        "Observation",
        "subject:Patient.organization:missing",
        "true",
    );
    assert_eq!(
        f.any,
        vec![Criterion::Chain {
            param: s("subject"),
            inner: vec![(
                s("Patient"),
                leaf(Cond::Missing {
                    param: s("organization"),
                    kind: ParamType::Reference,
                    missing: true
                })
            )],
        }]
    );
    // The shared clinical `patient` definition targets Patient and Group; both have
    // `identifier`.
    let f = filter("Encounter", "patient.identifier", "urn:mrn|7");
    let mrn = || {
        leaf(token(
            "identifier",
            SystemMatch::Is(s("urn:mrn")),
            Some("7"),
        ))
    };
    assert_eq!(
        f.any,
        vec![Criterion::Chain {
            param: s("patient"),
            inner: vec![(s("Patient"), mrn()), (s("Group"), mrn())],
        }]
    );
}

#[test]
fn local_absolute_reference_with_history() {
    assert_eq!(
        cond(
            "Observation",
            "subject:Patient",
            "http://example.org/fhir/Patient/9/_history/3"
        ),
        reference("subject", Some("Patient"), Some("9"), None)
    );
}

#[test]
fn lenient_skips_an_unknown_sort_and_a_bad_modifier_on_count() {
    let r = run(
        Some("Patient"),
        &[("_sort", "nope"), ("_count:x", "3"), ("_count", "4")],
        true,
    )
    .unwrap();
    assert!(r.sort.is_empty());
    assert_eq!(r.count, 4);
    assert_eq!(
        r.ignored,
        vec![
            (s("_sort"), s("Unknown sort parameter 'nope' for Patient")),
            (s("_count:x"), s("Modifier ':x' is not allowed on '_count'")),
        ]
    );
    assert_eq!(r.canonical, vec![(s("_count"), s("4"))]);
}

#[test]
fn token_text_on_identifier() {
    assert_eq!(
        cond("Patient", "identifier:text", "Medical Record"),
        Cond::TokenText {
            param: s("identifier"),
            text: s("medical record")
        }
    );
}

/// search.html: "For token parameters on elements of type ContactPoint, uri, or boolean, the
/// presence of the pipe symbol SHALL NOT be used": such a value is refused, naming the
/// parameter, instead of silently finding nothing (nothing of those types has a system).
#[test]
fn tokens_without_a_system_refuse_the_pipe() {
    for (rt, key, value) in [
        ("Patient", "telecom", "phone|555-1234"),
        ("Patient", "phone", "|555-1234"),
        ("Patient", "email", "x|a@b.c"),
        ("Practitioner", "telecom:not", "phone|555"),
        ("Patient", "active", "|true"),
        ("Patient", "telecom", "555|"),
    ] {
        let e = err(rt, &[(key, value)]);
        assert!(
            e.contains(&format!("'{}'", key.split(':').next().unwrap()))
                && e.contains("without '|'"),
            "{key}={value}: {e}"
        );
    }
    // The plain form, an escaped pipe, and the pipe where values have systems.
    assert_eq!(
        cond("Patient", "telecom", "555-1234"),
        token("telecom", SystemMatch::Any, Some("555-1234"))
    );
    assert_eq!(
        cond("Patient", "telecom", "a\\|b"),
        token("telecom", SystemMatch::Any, Some("a|b"))
    );
    assert_eq!(
        cond("Patient", "active", "true"),
        token("active", SystemMatch::Any, Some("true"))
    );
    assert_eq!(
        cond("Patient", "identifier", "http://x|1"),
        token("identifier", SystemMatch::Is(s("http://x")), Some("1"))
    );
    assert_eq!(
        cond(
            "Patient",
            "gender",
            "http://hl7.org/fhir/administrative-gender|male"
        ),
        token(
            "gender",
            SystemMatch::Is(s("http://hl7.org/fhir/administrative-gender")),
            Some("male")
        )
    );
}

/// A Bundle's `composition` / `message` lead into the resource first in it: its parameters
/// are read under `composition.[parameter]`, chains go on from its references, and a
/// criterion that matches where the inner parameter has no value also asks for the inner
/// resource to be there.
#[test]
fn bundle_composition_and_message_read_the_resource_inside() {
    assert_eq!(
        cond("Bundle", "composition.subject", "Patient/1"),
        reference("composition.subject", Some("Patient"), Some("1"), None)
    );
    assert_eq!(
        cond("Bundle", "message.code", "ok"),
        token("message.code", SystemMatch::Any, Some("ok"))
    );
    // A plain id names the one type the parameter selects.
    assert_eq!(
        cond("Bundle", "composition", "c1"),
        reference("composition", Some("Composition"), Some("c1"), None)
    );
    match cond("Bundle", "composition._id", "c1") {
        Cond::Token { param, code, .. } => {
            assert_eq!(
                (param.as_str(), code.as_deref()),
                ("composition._id", Some("c1"))
            )
        }
        other => panic!("{other:?}"),
    }
    let f = filter("Bundle", "composition.subject:Patient.name", "eve");
    match f.any.as_slice() {
        [Criterion::Chain { param, inner }] => {
            assert_eq!(param, "composition.subject");
            assert_eq!(inner[0].0, "Patient");
            assert_eq!(
                *inner[0].1,
                Criterion::Cond(string_cond("name", StringMode::StartsWith, "eve"))
            );
        }
        other => panic!("{other:?}"),
    }
    let present = Filter {
        any: vec![Criterion::Cond(Cond::Missing {
            param: s("message"),
            kind: ParamType::Reference,
            missing: false,
        })],
        negate: false,
    };
    for (key, value) in [
        ("message.code:missing", "true"),
        ("message.code:not", "ok"),
        ("message.event:not-in", "ValueSet/x"),
    ] {
        let r = ok("Bundle", &[(key, value)]);
        assert_eq!(r.filters.len(), 2, "{key}");
        assert_eq!(r.filters[1], present, "{key}");
    }
    assert_eq!(ok("Bundle", &[("message.code", "ok")]).filters.len(), 1);
    for (key, value, says) in [
        ("composition:exact", "x", "composition.[parameter]"),
        ("composition._text", "x", "composition._text"),
        (
            "composition._lastUpdated",
            "2020",
            "composition._lastUpdated",
        ),
        ("composition:MessageHeader.event", "x", "MessageHeader"),
        ("_include", "Bundle:message", "inside"),
    ] {
        let e = err("Bundle", &[(key, value)]);
        assert!(e.contains(says), "{key}: {e}");
    }
    let e = err("MessageHeader", &[("_has:Bundle:message:type", "message")]);
    assert!(e.contains("_has"), "{e}");
}

/// `_filter` tests mean what the URL forms with the matching modifier or prefix mean.
#[test]
fn filter_tests_are_the_url_forms() {
    for (rt, expr, url) in [
        (
            "Patient",
            "birthdate ge 2014-10-10",
            ("birthdate", "ge2014-10-10"),
        ),
        ("Patient", "family sw chal", ("family", "chal")),
        ("Patient", "name co \"pet\"", ("name:contains", "pet")),
        ("Patient", "gender ne male", ("gender:not", "male")),
        ("Patient", "family pr true", ("family:missing", "false")),
        ("Patient", "family pr false", ("family:missing", "true")),
        (
            "Condition",
            "code ss http://snomed.info/sct|123",
            ("code:below", "http://snomed.info/sct|123"),
        ),
        (
            "Condition",
            "code sb loinc|1-8",
            ("code:above", "http://loinc.org|1-8"),
        ),
        ("Condition", "code in ValueSet/x", ("code:in", "ValueSet/x")),
        (
            "Condition",
            "code ni ValueSet/x",
            ("code:not-in", "ValueSet/x"),
        ),
        (
            "Observation",
            "value-quantity lt 5.4|ucum|mg",
            ("value-quantity", "lt5.4|http://unitsofmeasure.org|mg"),
        ),
        (
            "Observation",
            "subject re Patient/1",
            ("subject", "Patient/1"),
        ),
        (
            "Observation",
            "subject.name co pet",
            ("subject.name:contains", "pet"),
        ),
        ("Observation", "_id eq a", ("_id", "a")),
        (
            "Observation",
            "_lastUpdated gt 2020-01-01",
            ("_lastUpdated", "gt2020-01-01"),
        ),
    ] {
        assert_eq!(
            ok(rt, &[("_filter", expr)]).filters,
            ok(rt, &[url]).filters,
            "{expr}"
        );
    }
    // String `eq` is equality of the folded text, with `,` `|` `$` taken literally.
    assert_eq!(
        cond("Patient", "_filter", "family eq \"Ölz, a|b\""),
        string_cond("family", StringMode::Equals, "olz, a|b")
    );
    // `or` across parameters is one filter; `and` two; `not (a or b)` two negated ones.
    let r = ok("Patient", &[("_filter", "family eq x or given eq y")]);
    assert_eq!((r.filters.len(), r.filters[0].any.len()), (1, 2));
    let r = ok(
        "Patient",
        &[(
            "_filter",
            "not (family eq x or given eq y) and gender eq male",
        )],
    );
    assert_eq!(
        r.filters.iter().map(|f| f.negate).collect::<Vec<_>>(),
        [true, true, false]
    );
    // A negated test inside a Bundle's message also asks for the message.
    let r = ok("Bundle", &[("_filter", "message.code ne ok")]);
    assert_eq!(r.filters.len(), 2);
    assert!(r.filters[0].negate && !r.filters[1].negate);
    // Unknown names are bad values of _filter, so lenient handling does not drop them.
    let e = run(Some("Patient"), &[("_filter", "nosuch eq 1")], true).unwrap_err();
    assert!(e.contains("nosuch"), "{e}");
    for (expr, says) in [
        ("gender eq male or not (family eq x)", "ORed"),
        ("family ew x", "'ew' does not apply"),
        ("birthdate co 2020", "'co' does not apply"),
        ("_id ss a|b", "'ss' does not apply"),
    ] {
        let e = err("Patient", &[("_filter", expr)]);
        assert!(e.contains(says), "{expr}: {e}");
    }
}

/// search.html: "a chained condition will be evaluated inside contained resources". Each
/// chain also reads the contained resources its references may point at, from the
/// searched resources' own `{reference}:{Type}.{parameter}` entries, at every level, where
/// the `{reference}:contained` marker says some resource has one.
#[test]
fn chains_are_also_read_inside_contained_resources() {
    let r = ok("Observation", &[("subject:Patient.name", "peter")]);
    assert_eq!(
        r.filters[0].any,
        [
            Criterion::Chain {
                param: s("subject"),
                inner: vec![(
                    s("Patient"),
                    leaf(string_cond("name", StringMode::StartsWith, "peter"))
                )],
            },
            Criterion::Contained {
                marker: s("subject:contained"),
                types: vec![s("Patient")],
                alternatives: vec![Criterion::Cond(string_cond(
                    "subject:Patient.name",
                    StringMode::StartsWith,
                    "peter"
                ))],
            }
        ]
    );
    // Two levels: a contained Patient's stored Organization, and a stored Patient's
    // contained Organization.
    let r = ok("Observation", &[("patient.organization.name", "acme")]);
    let name = || leaf(string_cond("name", StringMode::StartsWith, "acme"));
    let stored_org = || Criterion::Chain {
        param: s("organization"),
        inner: vec![(s("Organization"), name())],
    };
    assert_eq!(
        r.filters[0].any,
        [
            Criterion::Chain {
                param: s("patient"),
                inner: vec![(
                    s("Patient"),
                    Box::new(Criterion::AnyOf(vec![
                        stored_org(),
                        Criterion::Contained {
                            marker: s("organization:contained"),
                            types: vec![s("Organization")],
                            alternatives: vec![Criterion::Cond(string_cond(
                                "organization:Organization.name",
                                StringMode::StartsWith,
                                "acme"
                            ))],
                        }
                    ]))
                )],
            },
            Criterion::Contained {
                marker: s("patient:contained"),
                types: vec![s("Patient")],
                alternatives: vec![Criterion::Chain {
                    param: s("patient:Patient.organization"),
                    inner: vec![(s("Organization"), name())],
                }],
            }
        ]
    );
    // Not where extraction keeps nothing to read: `:missing`, `_lastUpdated`, a trailing
    // `:not` (one criterion for all values), a Bundle's Composition.
    for (rt, key, value) in [
        ("Observation", "subject:Patient.name:missing", "true"),
        ("Observation", "subject:Patient._lastUpdated", "gt2020"),
        ("Observation", "subject:Patient.gender:not", "male"),
        ("Bundle", "composition.subject:Patient.name", "eve"),
    ] {
        let r = ok(rt, &[(key, value)]);
        assert!(
            !r.filters[0]
                .any
                .iter()
                .any(|c| matches!(c, Criterion::Contained { .. })),
            "{key}"
        );
    }
    // Alternatives are not values of their own: the bound counts what the client sent.
    let values: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
    ok("Observation", &[("subject.name", &values.join(","))]);
}
