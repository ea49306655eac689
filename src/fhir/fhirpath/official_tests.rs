//! The official FHIRPath test suite where it applies to our subset.
//!
//! Origin: `r4/fhirpath/tests-fhir-r4.xml` of FHIR/fhir-test-cases (935 tests). The cases that
//! apply — every test whose expression `Expression::parse` accepted when they were chosen and
//! whose input file is an official R4 example (or that has no input) — are transcribed in our
//! own form into `testdata/fhirpath-r4-official.json`: group, test name, input file,
//! expression, and the expected values (or that an error is expected). Two of them name
//! unknown types (`as(string1)`); the parser rejects those now, which is the error they expect. The inputs are read as JSON from the
//! official examples package (`$FHIR_R4_EXAMPLES`), the XML of the suite mapped to the example
//! of the same id; where the suite's copy of an example differs, the data file says how.
//!
//! A case the subset deliberately answers otherwise carries the reason and what we give
//! instead, and that answer is asserted too, so a change of behaviour shows up either way.

use super::*;
use std::collections::BTreeMap;

/// One transcribed case (see the data file's `note` for the fields).
struct Case {
    group: String,
    name: String,
    /// None: the test has no input (literals only), so the focus is empty.
    input: Option<String>,
    expression: String,
    /// What the suite expects.
    official: Outcome,
    /// The result is to be read as a boolean (exists), as the suite's runners do.
    predicate: bool,
    /// A deliberate difference of the subset: why, and what we answer instead.
    difference: Option<(String, Outcome)>,
}

impl Case {
    fn from_json(v: &Value) -> Case {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let name = text("name").expect("case name");
        let official = match v.get("invalid") {
            Some(_) => Outcome::Error,
            None => outcome(&v["expect"]),
        };
        let difference = v.get("ours").map(|ours| {
            let why =
                text("difference").unwrap_or_else(|| panic!("{name}: 'ours' without a reason"));
            (why, outcome(ours))
        });
        Case {
            group: text("group").expect("case group"),
            input: text("input"),
            expression: text("expression").expect("case expression"),
            official,
            predicate: v["predicate"] == Value::Bool(true),
            difference,
            name,
        }
    }
}

/// `[[type, value], …]` as items; the string "error" as an error.
fn outcome(v: &Value) -> Outcome {
    if v == "error" {
        return Outcome::Error;
    }
    let pairs = v.as_array().expect("[type, value] pairs or \"error\"");
    Outcome::Items(
        pairs
            .iter()
            .map(|p| (p[0].as_str().expect("type").to_owned(), p[1].clone()))
            .collect(),
    )
}

/// What an evaluation gave: the items, or that it failed (at parse or evaluation time).
#[derive(Debug)]
enum Outcome {
    Items(Vec<(String, Value)>),
    Error,
}

const DEFAULT_EXAMPLES: &str = "/work/fhir-pkgs/ex/package";

fn run(case: &Case, resource: Option<&Value>) -> Outcome {
    let Ok(expr) = Expression::parse(&case.expression) else {
        return Outcome::Error;
    };
    let null = Value::Null;
    let result = match resource {
        Some(r) => expr.evaluate_typed(r, &[Expression::root_item(r)]),
        None => expr.evaluate_typed(&null, &[]),
    };
    let Ok(items) = result else {
        return Outcome::Error;
    };
    if case.predicate {
        let truth = match items.as_slice() {
            [] => false,
            [one] => one.value.as_bool().unwrap_or(true),
            _ => true,
        };
        return Outcome::Items(vec![("boolean".into(), Value::Bool(truth))]);
    }
    Outcome::Items(
        items
            .into_iter()
            .map(|i| (i.ty.to_string(), i.value.into_owned()))
            .collect(),
    )
}

/// FHIRPath equality of the primitive values the suite lists: numbers by value (`1.0` = `1`),
/// everything else (strings, codes, dates as text, booleans) exactly.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The suite names the System types of literals and computed values in lower case
/// (`boolean` for the result of `exists()`), as the FHIR primitives are named.
fn same_type(ours: &str, official: &str) -> bool {
    ours == official
        || matches!(ours, "Boolean" | "String" | "Integer" | "Decimal")
            && ours.eq_ignore_ascii_case(official)
}

fn matches(got: &Outcome, want: &Outcome) -> bool {
    match (got, want) {
        (Outcome::Error, Outcome::Error) => true,
        (Outcome::Items(g), Outcome::Items(w)) => {
            g.len() == w.len()
                && g.iter()
                    .zip(w)
                    .all(|((gt, gv), (wt, wv))| same_type(gt, wt) && same_value(gv, wv))
        }
        _ => false,
    }
}

/// The example an input file of the suite stands for, with the top-level elements the suite's
/// copy has and the published example lacks (`set`).
fn load_input(dir: &std::path::Path, input: &Value) -> Value {
    let path = dir.join(input["file"].as_str().expect("input file"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut resource: Value = serde_json::from_str(&text).unwrap();
    if let Some(set) = input.get("set").and_then(Value::as_object) {
        let object = resource.as_object_mut().unwrap();
        object.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    resource
}

#[test]
fn official_fhirpath_cases() {
    let suite: Value =
        serde_json::from_str(include_str!("testdata/fhirpath-r4-official.json")).unwrap();
    let cases: Vec<Case> = suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(Case::from_json)
        .collect();
    let total = suite["official_total"].as_u64().unwrap();
    let rejected = suite["rejected_by_parser"].as_u64().unwrap();
    let unavailable = suite["input_unavailable"].as_array().unwrap().len() as u64;
    assert_eq!(
        rejected + unavailable + cases.len() as u64,
        total,
        "every official test is either transcribed or counted as not applicable"
    );
    let dir = std::env::var("FHIR_R4_EXAMPLES").unwrap_or_else(|_| DEFAULT_EXAMPLES.to_owned());
    let dir = std::path::PathBuf::from(dir);
    if !dir.is_dir() {
        eprintln!(
            "skipped: the R4 examples are not at {} (set FHIR_R4_EXAMPLES)",
            dir.display()
        );
        return;
    }
    let inputs: BTreeMap<&str, Value> = suite["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, input)| (name.as_str(), load_input(&dir, input)))
        .collect();

    let mut failures = Vec::new();
    let mut passing = 0;
    let mut differences = 0;
    for case in &cases {
        let resource = case.input.as_deref().map(|name| {
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("{}: no input {name}", case.name))
        });
        let got = run(case, resource);
        let want = &case.official;
        let id = format!("{}/{}: {}", case.group, case.name, case.expression);
        match &case.difference {
            None if matches(&got, want) => passing += 1,
            None => failures.push(format!("{id}\n    official {want:?}\n    we give  {got:?}")),
            Some((why, ours)) => {
                differences += 1;
                assert!(
                    !matches(ours, want),
                    "{id}: listed as a difference but 'ours' is the official answer"
                );
                if !matches(&got, ours) {
                    failures.push(format!(
                        "{id}\n    known difference ({why}) {ours:?}\n    we give  {got:?}\n    official {want:?}"
                    ));
                }
            }
        }
    }
    println!(
        "official FHIRPath R4 suite: {total} tests, {} apply ({rejected} rejected by the parser, \
         {unavailable} without an official example as input); {passing} pass, {differences} \
         known differences",
        cases.len(),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
