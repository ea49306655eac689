//! FHIRPath syntax tree and a precedence-climbing parser over [`Token`]s.

use super::lexer::Token;
use super::FhirPathError;

/// Functions the evaluator implements; anything else is rejected at parse time so that a
/// search parameter using it is marked unsupported rather than silently selecting nothing.
pub(crate) const FUNCTIONS: &[&str] = &[
    "where",
    "exists",
    "empty",
    "not",
    "first",
    "last",
    "count",
    "resolve",
    "as",
    "is",
    "ofType",
    "extension",
    "hasValue",
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// `$this`: the focus.
    This,
    /// `%resource` / `%context` / `%rootResource`.
    Resource,
    Str(String),
    Bool(bool),
    Number(String),
    /// An identifier at the start of a path: a type name (filters the focus by type) or an
    /// element of the focus.
    Root(String),
    /// `target.name`.
    Member(Box<Node>, String),
    /// `target.name` resolved ahead of evaluation, for a target whose type is known: the JSON
    /// keys to read (one per variant of a choice element) and the type of each.
    Field(Box<Node>, Vec<(String, &'static str)>),
    /// `target.name(args)`; `target` is `$this` for a bare `name(args)`.
    Call(Box<Node>, String, Vec<Node>),
    /// Calls whose argument is a type specifier: `as`, `is`, `ofType`.
    TypeCall(Box<Node>, TypeOp, String),
    Index(Box<Node>, Box<Node>),
    Union(Box<Node>, Box<Node>),
    Equals(Box<Node>, Box<Node>, bool),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeOp {
    /// `as T` / `.as(T)`: the items of type T.
    As,
    /// `is T`: whether the single item is of type T.
    Is,
    /// `ofType(T)`.
    OfType,
}

pub(crate) fn parse(tokens: &[Token]) -> Result<Node, FhirPathError> {
    let mut p = Parser { tokens, pos: 0 };
    let node = p.expression(0)?;
    if let Some(t) = p.peek() {
        return Err(FhirPathError(format!(
            "unexpected {t:?} after the expression"
        )));
    }
    Ok(node)
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
}

/// Binding strength of the infix operators, loosest first (FHIRPath §"Operator precedence").
fn infix_precedence(t: &Token) -> Option<u8> {
    Some(match t {
        Token::Ident(s) if s == "implies" => 1,
        Token::Ident(s) if s == "or" || s == "xor" => 2,
        Token::Ident(s) if s == "and" => 3,
        Token::Ident(s) if s == "in" || s == "contains" => 4,
        Token::Eq | Token::NotEq | Token::Equiv | Token::NotEquiv => 5,
        Token::Lt | Token::Gt | Token::Le | Token::Ge => 6,
        Token::Pipe => 7,
        Token::Ident(s) if s == "is" || s == "as" => 8,
        Token::Plus | Token::Minus | Token::Amp => 9,
        Token::Star | Token::Slash => 10,
        Token::Ident(s) if s == "div" || s == "mod" => 10,
        _ => return None,
    })
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&'t Token> {
        let t = self.tokens.get(self.pos);
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Token) -> Result<(), FhirPathError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            other => Err(FhirPathError(format!("expected {want:?}, found {other:?}"))),
        }
    }

    fn expression(&mut self, min: u8) -> Result<Node, FhirPathError> {
        let mut left = self.unary()?;
        while let Some(op) = self.peek() {
            let Some(prec) = infix_precedence(op) else {
                break;
            };
            if prec < min {
                break;
            }
            self.pos += 1;
            if prec == 8 {
                let kind = if matches!(op, Token::Ident(s) if s == "is") {
                    TypeOp::Is
                } else {
                    TypeOp::As
                };
                let name = self.type_specifier()?;
                left = Node::TypeCall(Box::new(left), kind, name);
                continue;
            }
            let right = self.expression(prec + 1)?;
            left = match op {
                Token::Pipe => Node::Union(Box::new(left), Box::new(right)),
                Token::Eq => Node::Equals(Box::new(left), Box::new(right), false),
                Token::NotEq => Node::Equals(Box::new(left), Box::new(right), true),
                Token::Ident(s) if s == "and" => Node::And(Box::new(left), Box::new(right)),
                Token::Ident(s) if s == "or" => Node::Or(Box::new(left), Box::new(right)),
                other => {
                    return Err(FhirPathError(format!(
                        "operator {other:?} is not supported"
                    )))
                }
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, FhirPathError> {
        if matches!(self.peek(), Some(Token::Minus)) {
            if let Some(Token::Number(n)) = self.tokens.get(self.pos + 1) {
                self.pos += 2;
                return self.postfix(Node::Number(format!("-{n}")));
            }
            return Err(FhirPathError("unary minus is not supported".into()));
        }
        if matches!(self.peek(), Some(Token::Plus)) {
            self.pos += 1;
        }
        let term = self.term()?;
        self.postfix(term)
    }

    fn term(&mut self) -> Result<Node, FhirPathError> {
        match self.next() {
            Some(Token::LParen) => {
                let inner = self.expression(0)?;
                self.expect(&Token::RParen)?;
                Ok(inner)
            }
            Some(Token::Str(s)) => Ok(Node::Str(s.clone())),
            Some(Token::Number(n)) => Ok(Node::Number(n.clone())),
            Some(Token::External(name)) => match name.as_str() {
                "resource" | "context" | "rootResource" => Ok(Node::Resource),
                other => Err(FhirPathError(format!("%{other} is not supported"))),
            },
            Some(Token::Special(name)) => match name.as_str() {
                "this" => Ok(Node::This),
                other => Err(FhirPathError(format!("${other} is not supported"))),
            },
            Some(Token::Ident(name)) => {
                if matches!(self.peek(), Some(Token::LParen)) {
                    return self.call(Node::This, name);
                }
                Ok(match name.as_str() {
                    "true" => Node::Bool(true),
                    "false" => Node::Bool(false),
                    _ => Node::Root(name.clone()),
                })
            }
            other => Err(FhirPathError(format!("unexpected {other:?}"))),
        }
    }

    fn postfix(&mut self, mut node: Node) -> Result<Node, FhirPathError> {
        loop {
            match self.peek() {
                Some(Token::Dot) => {
                    self.pos += 1;
                    let Some(Token::Ident(name)) = self.next() else {
                        return Err(FhirPathError("a name must follow '.'".into()));
                    };
                    node = if matches!(self.peek(), Some(Token::LParen)) {
                        self.call(node, name)?
                    } else {
                        Node::Member(Box::new(node), name.clone())
                    };
                }
                Some(Token::LBracket) => {
                    self.pos += 1;
                    let index = self.expression(0)?;
                    self.expect(&Token::RBracket)?;
                    node = Node::Index(Box::new(node), Box::new(index));
                }
                _ => return Ok(node),
            }
        }
    }

    /// Parses `(args)` of a call to `name` on `target`; the `(` is next.
    fn call(&mut self, target: Node, name: &str) -> Result<Node, FhirPathError> {
        self.expect(&Token::LParen)?;
        let type_op = match name {
            "as" => Some(TypeOp::As),
            "is" => Some(TypeOp::Is),
            "ofType" => Some(TypeOp::OfType),
            _ => None,
        };
        if let Some(op) = type_op {
            let t = self.type_specifier()?;
            self.expect(&Token::RParen)?;
            return Ok(Node::TypeCall(Box::new(target), op, t));
        }
        if !FUNCTIONS.contains(&name) {
            return Err(FhirPathError(format!("function {name}() is not supported")));
        }
        let mut args = Vec::new();
        if !matches!(self.peek(), Some(Token::RParen)) {
            loop {
                args.push(self.expression(0)?);
                if matches!(self.peek(), Some(Token::Comma)) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(&Token::RParen)?;
        let arity_ok = match name {
            "where" | "extension" => args.len() == 1,
            "exists" => args.len() <= 1,
            _ => args.is_empty(),
        };
        if !arity_ok {
            return Err(FhirPathError(format!(
                "{name}() does not take {} argument(s)",
                args.len()
            )));
        }
        Ok(Node::Call(Box::new(target), name.to_string(), args))
    }

    /// `Patient`, `FHIR.Patient`, `System.String`: the namespace is dropped except `System`,
    /// which is kept so that `System.String` and FHIR `string` stay distinct. A name that is
    /// no type at all (`string1`) is an error rather than a test that is never true.
    fn type_specifier(&mut self) -> Result<String, FhirPathError> {
        let Some(Token::Ident(first)) = self.next() else {
            return Err(FhirPathError("a type name is expected".into()));
        };
        if matches!(self.peek(), Some(Token::Dot)) {
            if let Some(Token::Ident(second)) = self.tokens.get(self.pos + 1) {
                self.pos += 2;
                if first == "System" {
                    return Ok(format!("System.{second}"));
                }
                return known_type(second);
            }
        }
        known_type(first)
    }
}

/// `name` if it names a FHIR type or, unqualified, a System type.
fn known_type(name: &str) -> Result<String, FhirPathError> {
    const OTHER: &[&str] = &[
        "Resource",
        "DomainResource",
        "Boolean",
        "String",
        "Integer",
        "Decimal",
        "Date",
        "DateTime",
        "Time",
    ];
    if OTHER.contains(&name) || crate::fhir::element_types::type_def(name).is_some() {
        Ok(name.to_owned())
    } else {
        Err(FhirPathError(format!("unknown type {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn p(s: &str) -> Node {
        parse(&tokenize(s).unwrap()).unwrap()
    }

    fn root(s: &str) -> Box<Node> {
        Box::new(Node::Root(s.into()))
    }

    #[test]
    fn type_operators_bind_tighter_than_union() {
        assert_eq!(
            p("A.x as Period | B.y"),
            Node::Union(
                Box::new(Node::TypeCall(
                    Box::new(Node::Member(root("A"), "x".into())),
                    TypeOp::As,
                    "Period".into()
                )),
                Box::new(Node::Member(root("B"), "y".into()))
            )
        );
    }

    #[test]
    fn where_with_resolve_is_and_function_type_arguments() {
        assert_eq!(
            p("A.s.where(resolve() is Patient)"),
            Node::Call(
                Box::new(Node::Member(root("A"), "s".into())),
                "where".into(),
                vec![Node::TypeCall(
                    Box::new(Node::Call(Box::new(Node::This), "resolve".into(), vec![])),
                    TypeOp::Is,
                    "Patient".into()
                )]
            )
        );
        assert_eq!(
            p("value.as(FHIR.Quantity)"),
            Node::TypeCall(root("value"), TypeOp::As, "Quantity".into())
        );
        assert_eq!(
            p("(A.v as CodeableConcept).text"),
            Node::Member(
                Box::new(Node::TypeCall(
                    Box::new(Node::Member(root("A"), "v".into())),
                    TypeOp::As,
                    "CodeableConcept".into()
                )),
                "text".into()
            )
        );
    }

    #[test]
    fn logic_equality_index_and_keywords_as_member_names() {
        assert_eq!(
            p("a.exists() and a != false"),
            Node::And(
                Box::new(Node::Call(root("a"), "exists".into(), vec![])),
                Box::new(Node::Equals(root("a"), Box::new(Node::Bool(false)), true))
            )
        );
        assert_eq!(
            p("V.expansion.contains.code"),
            Node::Member(
                Box::new(Node::Member(
                    Box::new(Node::Member(root("V"), "expansion".into())),
                    "contains".into()
                )),
                "code".into()
            )
        );
        assert_eq!(
            p("B.entry[0].resource"),
            Node::Member(
                Box::new(Node::Index(
                    Box::new(Node::Member(root("B"), "entry".into())),
                    Box::new(Node::Number("0".into()))
                )),
                "resource".into()
            )
        );
    }

    #[test]
    fn unsupported_syntax_is_an_error() {
        for bad in [
            "a.foo()",
            "a + b",
            "a.where()",
            "a.",
            "(a",
            "a b",
            "%ucum",
            "a.first(1)",
            "a.as(string1)",
            "a is Patien",
        ] {
            assert!(parse(&tokenize(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
