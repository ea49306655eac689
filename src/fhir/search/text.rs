//! `_text` and `_content` (search.html "Text search"): the words of a resource's narrative
//! (`_text`) or of all of its text (`_content`), indexed as string entries, one per distinct
//! word; and the search syntax over them: words, `AND` (also implied between words), `OR`
//! and parentheses, as in the spec's `_text=(bone OR liver) and metastases`.
//!
//! A search word matches a word of the text that starts with it, case- and
//! accent-insensitively (the string parameters' rule, applied per word). A search is turned
//! into AND-ed groups of OR-ed words, which is exactly the shape the stores already answer
//! for repeated and comma-separated string values, so the text search is exact and indexed on
//! both stores with no store code of its own. Not supported, and refused with a reason:
//! `NOT` (a negated word group would need an anti-join per group) and quoted phrases (the
//! entries keep no word positions).

use super::values::normalize_string;
use crate::fhir::element_types::{self, Primitive};
use serde_json::Value;
use std::collections::HashSet;

/// Which text of a resource a parameter searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `_text`: the narrative, `text.div`.
    Narrative,
    /// `_content`: the text values of the resource, contained resources and the narrative
    /// included (`is_text`).
    Content,
}

impl Source {
    /// The text source of the text search parameter `code`, if it is one.
    pub fn of(code: &str) -> Option<Source> {
        [Source::Narrative, Source::Content]
            .into_iter()
            .find(|s| s.code() == code)
    }

    /// The parameter's code.
    pub fn code(self) -> &'static str {
        match self {
            Source::Narrative => "_text",
            Source::Content => "_content",
        }
    }
}

/// Words are indexed by at most their first this many characters, and a search word may not
/// be longer: then "some word starts with the search word" has the same answer on the
/// shortened words, which keeps the index entries small whatever the text.
pub const MAX_WORD_CHARS: usize = 64;

/// Most distinct words one resource indexes per parameter: the first ones met (in the order
/// of the narrative, or of the resource's elements). Without a bound a 5 MB narrative of
/// distinct words made a 37 MB MongoDB document (over its 16 MiB limit: the write failed);
/// with it such a resource is stored and its first words are found. Lucene bounded a field
/// to its first 10,000 terms by default for the same reason. The official examples have at
/// most 8,667 distinct narrative words.
pub const MAX_WORDS: usize = 20_000;

/// The distinct words met so far, in order, up to [`MAX_WORDS`].
#[derive(Default)]
struct Found {
    seen: HashSet<String>,
    order: Vec<String>,
}

impl Found {
    fn full(&self) -> bool {
        self.order.len() >= MAX_WORDS
    }

    fn insert(&mut self, word: String) {
        if !self.full() && !self.seen.contains(&word) {
            self.seen.insert(word.clone());
            self.order.push(word);
        }
    }
}

/// Most AND-ed groups one text search value may expand to, and most words in one group:
/// `(a OR b) (c OR d)` is two groups, `(a b) OR (c d)` four; the bound keeps a short query
/// from expanding into a huge one.
pub const MAX_GROUPS: usize = 16;
pub const MAX_GROUP_WORDS: usize = 32;

/// The distinct words of `resource`'s text for `source`, normalised and shortened as the
/// search words are (at most [`MAX_WORDS`], the first ones met), sorted.
pub fn words(resource: &Value, source: Source) -> Vec<String> {
    let mut found = Found::default();
    match source {
        Source::Narrative => {
            if let Some(div) = resource
                .get("text")
                .and_then(|t| t.get("div"))
                .and_then(Value::as_str)
            {
                push_words(&xhtml_text(div), &mut found);
            }
        }
        Source::Content => {
            if let Some(t) = resource.get("resourceType").and_then(Value::as_str) {
                content_words(t, resource, &mut found);
            }
        }
    }
    let mut words = found.order;
    words.sort_unstable();
    words
}

/// The words of every text value under `value`, an element of type `type_name`.
fn content_words(type_name: &str, value: &Value, out: &mut Found) {
    let Value::Object(fields) = value else {
        return;
    };
    for (name, v) in fields {
        if out.full() {
            return;
        }
        // `_birthDate`: the id and extensions of a primitive, typed as the primitive's own
        // table (which holds just those).
        let (name, primitive_sibling) = match name.strip_prefix('_') {
            Some(n) => (n, true),
            None => (name.as_str(), false),
        };
        // Element ids and literal references are addresses, not text: their words are the
        // parts of uuids (26 of the 60 words per resource on Synthea data, nearly all unique).
        if name == "resourceType"
            || name == "id"
            || (type_name == "Reference" && name == "reference")
        {
            continue;
        }
        let Some(def) = element_types::element(type_name, name) else {
            continue;
        };
        let items: &[Value] = match v {
            Value::Array(a) => a,
            one => std::slice::from_ref(one),
        };
        for item in items {
            match (def.primitive, primitive_sibling) {
                (Some(_), true) => content_words(def.type_name, item, out),
                (Some(p), false) if !is_text(p) => {}
                (Some(Primitive::Xhtml), false) => {
                    if let Some(s) = item.as_str() {
                        push_words(&xhtml_text(s), out);
                    }
                }
                (Some(_), false) => {
                    if let Some(s) = item.as_str() {
                        push_words(s, out);
                    }
                }
                (None, _) if def.type_name == "Resource" => {
                    if let Some(t) = item.get("resourceType").and_then(Value::as_str) {
                        content_words(t, item, out);
                    }
                }
                (None, _) => content_words(def.type_name, item, out),
            }
        }
    }
}

/// Whether `_content` reads values of this primitive type: strings, markdown, codes, uris
/// and the narrative. Binary data, booleans, numbers, dates and times, ids and uuids have
/// their own parameters, and their "words" (digits of a date, parts of a uuid) find nothing a
/// reader would call text; leaving them out halves the entries `_content` writes (Synthea).
fn is_text(p: Primitive) -> bool {
    matches!(
        p,
        Primitive::String
            | Primitive::Markdown
            | Primitive::Code
            | Primitive::Uri
            | Primitive::Url
            | Primitive::Canonical
            | Primitive::Xhtml
    )
}

/// The words of `text`: runs of letters and digits after normalisation, each shortened to
/// [`MAX_WORD_CHARS`].
fn push_words(text: &str, out: &mut Found) {
    for word in split_words(&normalize_string(text)) {
        if out.full() {
            return;
        }
        out.insert(word.chars().take(MAX_WORD_CHARS).collect());
    }
}

fn split_words(normalized: &str) -> impl Iterator<Item = &str> {
    normalized
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The character data of an XHTML fragment: markup becomes a word break (cells of a table
/// are separate words), entity and character references are decoded; attribute values and
/// comments are not text.
fn xhtml_text(xhtml: &str) -> String {
    let mut out = String::with_capacity(xhtml.len());
    let mut rest = xhtml;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            out.push(' ');
        } else if rest.starts_with('<') {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
            out.push(' ');
        } else {
            let end = rest[1..].find(';').map(|i| i + 1).filter(|&i| i <= 10);
            match end {
                Some(e) => {
                    out.push(entity(&rest[1..e]).unwrap_or(' '));
                    rest = &rest[e + 1..];
                }
                None => {
                    out.push(' ');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity or character reference (without `&` and `;`) stands for; `None`
/// for named entities beyond XML's own and `nbsp`, which then read as a word break.
fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let digits = name.strip_prefix('#')?;
            let code = match digits.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => digits.parse().ok()?,
            };
            char::from_u32(code)?
        }
    })
}

/// AND-ed groups of OR-ed words.
pub type Groups = Vec<Vec<String>>;

/// A text search value (already unescaped) as AND-ed groups of OR-ed search words: a
/// resource matches when, for every group, one of its words starts a word of the text.
/// A term of several words (`blood-pressure`) asks for each of them.
pub fn parse(value: &str) -> Result<Groups, String> {
    let tokens = lex(value)?;
    let mut p = Parser { tokens, at: 0 };
    let groups = p.or_expr()?;
    match p.tokens.get(p.at) {
        None => Ok(groups),
        Some(Token::Close) => Err("')' without a matching '('".to_string()),
        Some(_) => Err("unexpected text after the expression".to_string()),
    }
}

/// Several search values OR-ed (`_text=a,b`).
pub fn any_of(values: Vec<Groups>) -> Result<Groups, String> {
    let mut all = values.into_iter();
    let first = all.next().unwrap_or_default();
    all.try_fold(first, or)
}

/// The one search word of a value that must be a single word (a chained `_text`).
pub fn single_word(value: &str) -> Result<String, String> {
    match parse(value)?.as_mut_slice() {
        [group] if group.len() == 1 => Ok(group.remove(0)),
        _ => Err("in a chain or _has, a text search takes one word per value".to_string()),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    /// Normalised.
    Term(String),
}

fn lex(value: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let spaced = value.replace('(', " ( ").replace(')', " ) ");
    for raw in spaced.split_whitespace() {
        if raw.contains('"') {
            return Err("phrase search (quoted words) is not supported".to_string());
        }
        tokens.push(match raw {
            "(" => Token::Open,
            ")" => Token::Close,
            _ => match raw.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => return Err("NOT is not supported in a text search".to_string()),
                _ => {
                    let term = normalize_string(raw);
                    let words: Vec<&str> = split_words(&term).collect();
                    if words.is_empty() {
                        return Err(format!("'{raw}' holds no letter or digit to search for"));
                    }
                    if let Some(long) = words.iter().find(|w| w.chars().count() > MAX_WORD_CHARS) {
                        return Err(format!(
                            "the word '{long}' is longer than {MAX_WORD_CHARS} characters, \
                             the most a text search word may have"
                        ));
                    }
                    Token::Term(term)
                }
            },
        });
    }
    if tokens.is_empty() {
        return Err("the text search is empty".to_string());
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or_expr(&mut self) -> Result<Groups, String> {
        let mut left = self.and_expr()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            let right = self.and_expr()?;
            left = or(left, right)?;
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Groups, String> {
        let mut left = self.operand()?;
        loop {
            match self.peek() {
                Some(Token::And) => self.at += 1,
                Some(Token::Open | Token::Term(_)) => {}
                _ => return Ok(left),
            }
            left = and(left, self.operand()?)?;
        }
    }

    fn operand(&mut self) -> Result<Groups, String> {
        let token = self.peek().cloned();
        self.at += 1;
        match token {
            Some(Token::Open) => {
                let inner = self.or_expr()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("'(' without a matching ')'".to_string());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Term(t)) => and(
                Vec::new(),
                split_words(&t).map(|w| vec![w.to_string()]).collect(),
            ),
            Some(Token::And | Token::Or) => Err("AND or OR without a word before it".to_string()),
            Some(Token::Close) => Err("')' without a matching '('".to_string()),
            None => Err("the text search ends where a word is expected".to_string()),
        }
    }
}

fn and(mut left: Groups, right: Groups) -> Result<Groups, String> {
    for g in right {
        if !left.contains(&g) {
            left.push(g);
        }
    }
    bounded(left)
}

/// `(a AND b) OR (c AND d)` = `(a OR c) AND (a OR d) AND (b OR c) AND (b OR d)`.
fn or(left: Groups, right: Groups) -> Result<Groups, String> {
    let mut out: Groups = Vec::new();
    for l in &left {
        for r in &right {
            let mut g = l.clone();
            for w in r {
                if !g.contains(w) {
                    g.push(w.clone());
                }
            }
            g.sort();
            if !out.contains(&g) {
                out.push(g);
            }
            if out.len() > MAX_GROUPS {
                return bounded(out);
            }
        }
    }
    bounded(out)
}

fn bounded(groups: Groups) -> Result<Groups, String> {
    if groups.len() > MAX_GROUPS || groups.iter().any(|g| g.len() > MAX_GROUP_WORDS) {
        return Err(format!(
            "the text search is too complex: it would need more than {MAX_GROUPS} groups of \
             at most {MAX_GROUP_WORDS} alternative words each"
        ));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn groups(v: &[&[&str]]) -> Groups {
        v.iter()
            .map(|g| g.iter().map(|w| w.to_string()).collect())
            .collect()
    }

    #[test]
    fn the_spec_example_is_two_groups() {
        assert_eq!(
            parse("(bone OR liver) and metastases").unwrap(),
            groups(&[&["bone", "liver"], &["metastases"]])
        );
        assert_eq!(
            parse("Bone  Métastases").unwrap(),
            groups(&[&["bone"], &["metastases"]])
        );
        assert_eq!(
            parse("blood-pressure").unwrap(),
            groups(&[&["blood"], &["pressure"]])
        );
        assert_eq!(
            parse("(a b) or c").unwrap(),
            groups(&[&["a", "c"], &["b", "c"]])
        );
        assert_eq!(
            any_of(vec![parse("a").unwrap(), parse("b c").unwrap()]).unwrap(),
            groups(&[&["a", "b"], &["a", "c"]])
        );
    }

    #[test]
    fn what_cannot_be_answered_exactly_is_refused() {
        for bad in [
            "\"heart attack\"",
            "not bone",
            "(bone",
            "bone)",
            "or bone",
            "bone and",
            "---",
            "(a b c d e) or (f g h i j)",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let long = "x".repeat(MAX_WORD_CHARS + 1);
        assert!(parse(&long).is_err());
        assert!(parse(&"x".repeat(MAX_WORD_CHARS)).is_ok());
        assert!(single_word("bone").is_ok());
        assert!(single_word("bone liver").is_err());
    }

    #[test]
    fn narrative_words_skip_markup_and_decode_references() {
        let r = json!({"resourceType": "Patient", "text": {"status": "generated",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p title=\"hidden\">Peter &amp; \
                    Jos&#233;</p><!-- note --><td>A</td><td>B</td> caf&eacute;</div>"}});
        assert_eq!(
            words(&r, Source::Narrative),
            ["a", "b", "caf", "jose", "peter"]
        );
    }

    #[test]
    fn content_words_are_the_text_values() {
        let r = json!({"resourceType": "Patient", "id": "p1", "active": true,
            "meta": {"versionId": "v7", "lastUpdated": "2020-01-01T00:00:00Z"},
            "text": {"status": "generated", "div": "<div>Narrated</div>"},
            "name": [{"id": "n1", "family": "Van der Berg", "_family": {"extension": [
                {"url": "http://x.org/e", "valueString": "Nickname"}]}}],
            "gender": "female",
            "birthDate": "1975-03-04",
            "photo": [{"contentType": "image/png", "data": "QUJDREVGR0g="}],
            "multipleBirthInteger": 2,
            "managingOrganization": {"reference": "Organization/acme9", "display": "Acme"},
            "contained": [{"resourceType": "Organization", "id": "o", "name": "Contained Org"}]});
        // Not: ids, booleans, the version id, instants and dates, base64 data, integers,
        // literal references.
        assert_eq!(
            words(&r, Source::Content),
            [
                "acme",
                "berg",
                "contained",
                "der",
                "e",
                "female",
                "generated",
                "http",
                "image",
                "narrated",
                "nickname",
                "org",
                "png",
                "van",
                "x"
            ]
        );
        let many: Vec<String> = (0..MAX_WORDS + 5)
            .rev()
            .map(|i| format!("w{i:06}"))
            .collect();
        let r = json!({"resourceType": "Basic", "text": {"div": many.join(" a ")}});
        let w = words(&r, Source::Narrative);
        assert_eq!(
            w.len(),
            MAX_WORDS,
            "the first distinct words, `a` among them"
        );
        assert!(w.contains(&format!("w{:06}", MAX_WORDS + 4)) && w.contains(&"a".to_string()));
        assert!(
            !w.contains(&"w000000".to_string()),
            "the last word is past the bound"
        );
        let long = json!({"resourceType": "Basic", "id": "b", "code": {"text": "y".repeat(100)}});
        assert!(words(&long, Source::Content).contains(&"y".repeat(MAX_WORD_CHARS)));
    }
}
