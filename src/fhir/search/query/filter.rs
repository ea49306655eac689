//! `_filter` (search_filter.html): an expression of tests (`name co "pet" and birthdate ge
//! 2014-10-10`), joined by `and` / `or` left to right without precedence, grouped with
//! parentheses, negated with `not (…)`.
//!
//! Each test is the search parameter it names with the operator's meaning in URL search
//! terms (`co` = `:contains`, `ge` = the `ge` prefix, `pr` = `:missing`, `in` = `:in` …), so
//! the stores answer it as they answer the URL form. The expression becomes AND-ed groups of
//! OR-ed tests (conjunctive normal form, after moving each `not` onto the tests), which is
//! the shape of a search: each group one filter. A group is either tests that hold, or one
//! negated test (a filter matching none of its values); a negated test ORed with others has
//! no such form and answers 400.

use super::escape::split_unescaped;
use super::problem::Problem;
use super::target::{parse_path, Modifier, Path};
use crate::fhir::search::params::{ParamType, Registry};
use crate::fhir::search::text;

/// Most tests one `_filter` may hold.
pub const MAX_TESTS: usize = 64;
/// Most AND-ed groups, and most tests per group, the expression may become: distributing an
/// `or` over `and`s multiplies groups (`(a and b) or (c and d)` is four).
pub const MAX_GROUPS: usize = 32;
/// How deep parentheses may nest (each level is a recursion of the parser).
const MAX_NESTING: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
    Ap,
    Sa,
    Eb,
    Pr,
    Po,
    Ss,
    Sb,
    In,
    Ni,
    Re,
}

/// Each operator and its code.
const OPS: [(Op, &str); 19] = [
    (Op::Eq, "eq"),
    (Op::Ne, "ne"),
    (Op::Co, "co"),
    (Op::Sw, "sw"),
    (Op::Ew, "ew"),
    (Op::Gt, "gt"),
    (Op::Lt, "lt"),
    (Op::Ge, "ge"),
    (Op::Le, "le"),
    (Op::Ap, "ap"),
    (Op::Sa, "sa"),
    (Op::Eb, "eb"),
    (Op::Pr, "pr"),
    (Op::Po, "po"),
    (Op::Ss, "ss"),
    (Op::Sb, "sb"),
    (Op::In, "in"),
    (Op::Ni, "ni"),
    (Op::Re, "re"),
];

impl Op {
    fn parse(s: &str) -> Option<Op> {
        OPS.iter()
            .find(|(_, code)| code.eq_ignore_ascii_case(s))
            .map(|(op, _)| *op)
    }

    fn code(self) -> &'static str {
        OPS.iter()
            .find(|(op, _)| *op == self)
            .map_or("", |(_, code)| code)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Test {
    path: String,
    op: Op,
    value: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Test(Test),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

/// One test as a search criterion: the resolved parameter name carrying the operator's
/// modifier, the value in URL search syntax (escaped), and whether it is negated.
#[derive(Debug)]
pub struct Term {
    pub path: Path,
    pub raw: String,
    pub negated: bool,
}

/// A `_filter` value for a search of `types`, as AND-ed groups of OR-ed terms. Every problem
/// is a bad value (400 even when lenient: ignoring part of an expression would change what
/// the rest means).
pub fn parse(
    registry: &Registry,
    types: &[String],
    value: &str,
) -> Result<Vec<Vec<Term>>, Problem> {
    let invalid = |m: String| Problem::Invalid(format!("Invalid _filter: {m}"));
    let expr = Parser::new(value).whole().map_err(invalid)?;
    let groups = cnf(nnf(expr, false)).map_err(invalid)?;
    groups
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .map(|(test, negated)| term(registry, types, &test, negated))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|p| match p {
            Problem::Unknown(m) | Problem::Invalid(m) => invalid(m),
        })
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
    tests: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Parser<'a> {
        Parser { s, at: 0, tests: 0 }
    }

    fn whole(mut self) -> Result<Expr, String> {
        let e = self.filter(0)?;
        self.ws();
        match self.peek() {
            None => Ok(e),
            Some(c) => Err(format!("unexpected '{c}' at character {}", self.at + 1)),
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.at..].chars().next()
    }

    fn ws(&mut self) {
        let rest = &self.s[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    /// A run of characters up to whitespace or a parenthesis.
    fn word(&mut self) -> &'a str {
        let rest = &self.s[self.at..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .unwrap_or(rest.len());
        self.at += end;
        &rest[..end]
    }

    /// `filter (("and" | "or") filter)*`, left to right.
    fn filter(&mut self, depth: usize) -> Result<Expr, String> {
        let mut left = self.unit(depth)?;
        loop {
            self.ws();
            if matches!(self.peek(), None | Some(')')) {
                return Ok(left);
            }
            let at = self.at;
            let join = self.word();
            let right = Box::new(match join.to_ascii_lowercase().as_str() {
                "and" | "or" => self.unit(depth)?,
                _ => {
                    return Err(format!(
                        "expected 'and' or 'or' at character {}, found '{join}'",
                        at + 1
                    ))
                }
            });
            left = if join.eq_ignore_ascii_case("and") {
                Expr::And(Box::new(left), right)
            } else {
                Expr::Or(Box::new(left), right)
            };
        }
    }

    /// `( filter )`, `not ( filter )` or a test.
    fn unit(&mut self, depth: usize) -> Result<Expr, String> {
        if depth >= MAX_NESTING {
            return Err(format!(
                "parentheses nest more than {MAX_NESTING} levels deep"
            ));
        }
        self.ws();
        if self.peek() == Some('(') {
            return self.group(depth);
        }
        let at = self.at;
        let path = self.word();
        if path.is_empty() {
            return Err(match self.peek() {
                None => "the expression ends where a test was expected".to_string(),
                Some(c) => format!("a test was expected at character {}, found '{c}'", at + 1),
            });
        }
        if path.eq_ignore_ascii_case("not") {
            self.ws();
            if self.peek() != Some('(') {
                return Err("'not' must be followed by a parenthesised filter".to_string());
            }
            return Ok(Expr::Not(Box::new(self.group(depth)?)));
        }
        if path.contains('[') {
            return Err(format!(
                "filters inside a parameter path ('{path}') are not supported"
            ));
        }
        let valid_name = |n: &str| {
            n.starts_with(|c: char| c == '_' || c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c == '_' || c == '-' || c.is_ascii_alphanumeric())
        };
        if !path.split('.').all(valid_name) {
            return Err(format!("'{path}' is not a parameter path"));
        }
        self.ws();
        let op_text = self.word();
        let op = Op::parse(op_text).ok_or_else(|| {
            format!("'{op_text}' after '{path}' is not an operator (eq, ne, co, sw, …)")
        })?;
        self.ws();
        let value = self.value()?;
        self.tests += 1;
        if self.tests > MAX_TESTS {
            return Err(format!("at most {MAX_TESTS} tests are supported"));
        }
        Ok(Expr::Test(Test {
            path: path.to_string(),
            op,
            value,
        }))
    }

    fn group(&mut self, depth: usize) -> Result<Expr, String> {
        self.at += 1; // '('
        let e = self.filter(depth + 1)?;
        self.ws();
        if self.peek() != Some(')') {
            return Err("a '(' is not closed".to_string());
        }
        self.at += 1;
        Ok(e)
    }

    /// A JSON string, or a token: characters up to whitespace, ')' or ']'.
    fn value(&mut self) -> Result<String, String> {
        let rest = &self.s[self.at..];
        if rest.starts_with('"') {
            let mut escaped = false;
            let end = rest
                .char_indices()
                .skip(1)
                .find(|&(_, c)| {
                    let close = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map(|(i, _)| i)
                .ok_or("a string is not closed")?;
            self.at += end + 1;
            return serde_json::from_str::<String>(&rest[..=end])
                .map_err(|e| format!("bad string {}: {e}", &rest[..=end]));
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ')' || c == ']')
            .unwrap_or(rest.len());
        if end == 0 {
            return Err("a test has no value".to_string());
        }
        self.at += end;
        Ok(rest[..end].to_string())
    }
}

/// The expression with every `not` moved onto the tests (De Morgan).
enum Nnf {
    Test(Test, bool),
    And(Box<Nnf>, Box<Nnf>),
    Or(Box<Nnf>, Box<Nnf>),
}

fn nnf(e: Expr, negated: bool) -> Nnf {
    match e {
        Expr::Test(t) => Nnf::Test(t, negated),
        Expr::Not(inner) => nnf(*inner, !negated),
        Expr::And(a, b) if !negated => Nnf::And(Box::new(nnf(*a, false)), Box::new(nnf(*b, false))),
        Expr::And(a, b) => Nnf::Or(Box::new(nnf(*a, true)), Box::new(nnf(*b, true))),
        Expr::Or(a, b) if !negated => Nnf::Or(Box::new(nnf(*a, false)), Box::new(nnf(*b, false))),
        Expr::Or(a, b) => Nnf::And(Box::new(nnf(*a, true)), Box::new(nnf(*b, true))),
    }
}

type Groups = Vec<Vec<(Test, bool)>>;

fn cnf(n: Nnf) -> Result<Groups, String> {
    let too_complex = || {
        format!(
            "the expression is too complex: it needs more than {MAX_GROUPS} AND-ed groups of at \
             most {MAX_GROUPS} ORed tests each"
        )
    };
    Ok(match n {
        Nnf::Test(t, negated) => vec![vec![(t, negated)]],
        Nnf::And(a, b) => {
            let mut groups = cnf(*a)?;
            groups.extend(cnf(*b)?);
            if groups.len() > MAX_GROUPS {
                return Err(too_complex());
            }
            groups
        }
        Nnf::Or(a, b) => {
            let (a, b) = (cnf(*a)?, cnf(*b)?);
            if a.len() * b.len() > MAX_GROUPS {
                return Err(too_complex());
            }
            let mut groups = Vec::with_capacity(a.len() * b.len());
            for x in &a {
                for y in &b {
                    if x.len() + y.len() > MAX_GROUPS {
                        return Err(too_complex());
                    }
                    groups.push(x.iter().chain(y).cloned().collect());
                }
            }
            groups
        }
    })
}

/// The namespaces search_filter.html lets a token name by a short code.
const NAMESPACES: [(&str, &str); 4] = [
    ("loinc", "http://loinc.org"),
    ("snomed", "http://snomed.info/sct"),
    ("rxnorm", "http://www.nlm.nih.gov/research/umls/rxnorm"),
    ("ucum", "http://unitsofmeasure.org"),
];

fn namespace(system: &str) -> &str {
    NAMESPACES
        .iter()
        .find(|(short, _)| *short == system)
        .map_or(system, |(_, url)| url)
}

/// `value` in URL search syntax, where `\` escapes `,`, `$` and `|`: those in `keep` stay
/// separators (`system|code`), the others are escaped as the literal characters they are.
fn escape(value: &str, keep: &[char]) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '$' | '|') && !keep.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A token or quantity value with a short namespace code replaced (`loinc|1234-5`).
fn with_namespaces(value: &str, system_at: usize) -> String {
    let mut parts: Vec<String> = split_unescaped(value, '|')
        .into_iter()
        .map(str::to_string)
        .collect();
    if parts.len() > system_at + 1 {
        parts[system_at] = namespace(&parts[system_at]).to_string();
    }
    parts.join("|")
}

fn term(
    registry: &Registry,
    types: &[String],
    test: &Test,
    negated: bool,
) -> Result<Term, Problem> {
    let name = test.path.as_str();
    let path = parse_path(registry, types, name, 0)?;
    let leaves = path.leaves();
    let kind = leaves[0].kind;
    if leaves.iter().any(|l| l.kind != kind) {
        return Err(Problem::Invalid(format!(
            "'{name}' has different types across the types it reaches"
        )));
    }
    if leaves.iter().any(|l| text::Source::of(&l.code).is_some()) {
        return Err(Problem::Invalid(format!(
            "'{name}' is a text search: use the {name} parameter itself"
        )));
    }
    let always_there = matches!(&path, Path::Leaf { param, .. }
        if matches!(param.code.as_str(), "_id" | "_lastUpdated"));
    let v = test.value.as_str();
    let not_for = || {
        Problem::Invalid(format!(
            "'{}' does not apply to the {} parameter '{name}'",
            test.op.code(),
            kind.as_str()
        ))
    };
    use Modifier as M;
    let (modifier, raw, flip) = match (test.op, kind) {
        (Op::Pr, _) if always_there => return Err(not_for()),
        (Op::Pr, _) => match v {
            "true" => (M::Missing, "false".to_string(), false),
            "false" => (M::Missing, "true".to_string(), false),
            _ => {
                return Err(Problem::Invalid(format!(
                    "'{name} pr' takes true or false, not '{v}'"
                )))
            }
        },
        (Op::Eq | Op::Ne, ParamType::String) => (M::Equals, escape(v, &[]), test.op == Op::Ne),
        (Op::Co, ParamType::String) => (M::Contains, escape(v, &[]), false),
        (Op::Sw, ParamType::String) => (M::None, escape(v, &[]), false),
        (Op::Eq | Op::Ne, ParamType::Token) => (
            M::None,
            with_namespaces(&escape(v, &['|']), 0),
            test.op == Op::Ne,
        ),
        // `ss`: the value subsumes a code of the resource (the resource's code is below it).
        (Op::Ss, ParamType::Token) => (M::Below, with_namespaces(&escape(v, &['|']), 0), false),
        (Op::Sb, ParamType::Token) => (M::Above, with_namespaces(&escape(v, &['|']), 0), false),
        (Op::In | Op::Ni, ParamType::Token) => (M::In, escape(v, &[]), test.op == Op::Ni),
        (
            Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le | Op::Sa | Op::Eb | Op::Ap,
            ParamType::Number | ParamType::Date | ParamType::Quantity,
        ) => {
            let value = match kind {
                ParamType::Quantity => with_namespaces(&escape(v, &['|']), 1),
                _ => escape(v, &[]),
            };
            (M::None, format!("{}{value}", test.op.code()), false)
        }
        (Op::Eq | Op::Re | Op::Ne, ParamType::Reference) => {
            (M::None, escape(v, &['|']), test.op == Op::Ne)
        }
        (Op::Eq | Op::Ne, ParamType::Uri) => (M::None, escape(v, &[]), test.op == Op::Ne),
        (Op::Sw, ParamType::Uri) => (M::Below, escape(v, &[]), false),
        (Op::Eq | Op::Ne, ParamType::Composite) => {
            (M::None, escape(v, &['|', '$']), test.op == Op::Ne)
        }
        _ => return Err(not_for()),
    };
    let modified = match modifier {
        M::None => path,
        _ if always_there => return Err(not_for()),
        m => path.with_modifier(&m),
    };
    Ok(Term {
        path: modified,
        raw,
        negated: negated != flip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> Result<Expr, String> {
        Parser::new(s).whole()
    }

    fn t(path: &str, op: Op, value: &str) -> Expr {
        Expr::Test(Test {
            path: path.into(),
            op,
            value: value.into(),
        })
    }

    #[test]
    fn tests_join_left_to_right() {
        assert_eq!(
            parsed(r#"given eq "peter" and birthdate ge 2014-10-10 or name co pet"#).unwrap(),
            Expr::Or(
                Box::new(Expr::And(
                    Box::new(t("given", Op::Eq, "peter")),
                    Box::new(t("birthdate", Op::Ge, "2014-10-10"))
                )),
                Box::new(t("name", Op::Co, "pet"))
            )
        );
        assert_eq!(
            parsed("not (a eq 1) AND (b eq x)").unwrap(),
            Expr::And(
                Box::new(Expr::Not(Box::new(t("a", Op::Eq, "1")))),
                Box::new(t("b", Op::Eq, "x"))
            )
        );
        // A string may hold spaces, parentheses and escaped quotes.
        assert_eq!(
            parsed(r#"name eq "a (b) \"c\"""#).unwrap(),
            t("name", Op::Eq, r#"a (b) "c""#)
        );
        assert_eq!(parsed("(code eq x)").unwrap(), t("code", Op::Eq, "x"));
    }

    #[test]
    fn malformed_filters_say_why() {
        for (s, says) in [
            ("name", "operator"),
            ("name xx 1", "operator"),
            ("name eq", "no value"),
            ("name eq \"x", "not closed"),
            ("(name eq x", "not closed"),
            ("name eq x)", "unexpected"),
            ("name eq x nand b eq y", "expected 'and'"),
            ("not name eq x", "parenthesised"),
            ("related[type eq x].target pr true", "not supported"),
            ("na:me eq x", "not a parameter path"),
            ("", "ends"),
        ] {
            let e = parsed(s).unwrap_err();
            assert!(e.contains(says), "{s}: {e}");
        }
        let deep = format!("{}a eq 1{}", "(".repeat(40), ")".repeat(40));
        assert!(parsed(&deep).unwrap_err().contains("nest"));
        let many = vec!["a eq 1"; MAX_TESTS + 1].join(" and ");
        assert!(parsed(&many).unwrap_err().contains("at most"));
    }

    #[test]
    fn not_moves_onto_the_tests_and_or_distributes() {
        let groups = |s: &str| -> Vec<Vec<(String, bool)>> {
            cnf(nnf(parsed(s).unwrap(), false))
                .unwrap()
                .into_iter()
                .map(|g| g.into_iter().map(|(t, n)| (t.path, n)).collect())
                .collect()
        };
        assert_eq!(
            groups("not (a eq 1 or b eq 1)"),
            [vec![(s("a"), true)], vec![(s("b"), true)]]
        );
        assert_eq!(
            groups("(a eq 1 and b eq 1) or c eq 1"),
            [
                vec![(s("a"), false), (s("c"), false)],
                vec![(s("b"), false), (s("c"), false)]
            ]
        );
        assert_eq!(groups("not (not (a eq 1))"), [vec![(s("a"), false)]]);
        let wide = (0..6)
            .map(|i| format!("(a{i} eq 1 and b{i} eq 1)"))
            .collect::<Vec<_>>()
            .join(" or ");
        assert!(cnf(nnf(parsed(&wide).unwrap(), false))
            .unwrap_err()
            .contains("too complex"));
    }

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn short_namespaces_and_escapes() {
        assert_eq!(
            with_namespaces("loinc|1234-5", 0),
            "http://loinc.org|1234-5"
        );
        assert_eq!(with_namespaces("1234-5", 0), "1234-5");
        assert_eq!(
            with_namespaces("5.4|ucum|mg", 1),
            "5.4|http://unitsofmeasure.org|mg"
        );
        assert_eq!(escape("a,b$c|d\\", &[]), "a\\,b\\$c\\|d\\\\");
        assert_eq!(escape("s|c,d", &['|']), "s|c\\,d");
    }
}
