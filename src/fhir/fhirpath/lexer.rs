//! Tokens of the FHIRPath grammar (the subset the R4 search parameters need, plus the common
//! operators so that an unsupported expression fails in the parser with a clear message).

use super::FhirPathError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// An identifier; backtick-delimited ones arrive unquoted.
    Ident(String),
    Str(String),
    /// Kept as text so that the precision of the literal survives.
    Number(String),
    /// `%resource`, `%context`, `%ucum` …
    External(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Pipe,
    Eq,
    NotEq,
    Equiv,
    NotEquiv,
    Lt,
    Gt,
    Le,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Amp,
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, FhirPathError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // Comments are legal FHIRPath and cheap to skip.
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            // A dot only belongs to the number when a digit follows (`1.5`, not `1.exists()`).
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
            continue;
        }
        match c {
            '\'' => {
                let (s, next) = quoted(&chars, i, '\'')?;
                out.push(Token::Str(s));
                i = next;
            }
            '`' => {
                let (s, next) = quoted(&chars, i, '`')?;
                out.push(Token::Ident(s));
                i = next;
            }
            '%' | '$' => {
                let start = i + 1;
                let (name, next) = match chars.get(start) {
                    Some('`') => quoted(&chars, start, '`')?,
                    Some('\'') => quoted(&chars, start, '\'')?,
                    _ => {
                        let mut j = start;
                        while j < chars.len()
                            && (chars[j].is_ascii_alphanumeric() || chars[j] == '_')
                        {
                            j += 1;
                        }
                        (chars[start..j].iter().collect(), j)
                    }
                };
                if name.is_empty() {
                    return Err(FhirPathError(format!("a name must follow '{c}'")));
                }
                out.push(if c == '%' {
                    Token::External(name)
                } else {
                    Token::Special(name)
                });
                i = next;
            }
            _ => {
                let next = chars.get(i + 1).copied();
                let (tok, width) = match (c, next) {
                    ('!', Some('=')) => (Token::NotEq, 2),
                    ('!', Some('~')) => (Token::NotEquiv, 2),
                    ('<', Some('=')) => (Token::Le, 2),
                    ('>', Some('=')) => (Token::Ge, 2),
                    ('.', _) => (Token::Dot, 1),
                    (',', _) => (Token::Comma, 1),
                    ('(', _) => (Token::LParen, 1),
                    (')', _) => (Token::RParen, 1),
                    ('[', _) => (Token::LBracket, 1),
                    (']', _) => (Token::RBracket, 1),
                    ('|', _) => (Token::Pipe, 1),
                    ('=', _) => (Token::Eq, 1),
                    ('~', _) => (Token::Equiv, 1),
                    ('<', _) => (Token::Lt, 1),
                    ('>', _) => (Token::Gt, 1),
                    ('+', _) => (Token::Plus, 1),
                    ('-', _) => (Token::Minus, 1),
                    ('*', _) => (Token::Star, 1),
                    ('/', _) => (Token::Slash, 1),
                    ('&', _) => (Token::Amp, 1),
                    _ => return Err(FhirPathError(format!("unexpected character '{c}'"))),
                };
                out.push(tok);
                i += width;
            }
        }
    }
    Ok(out)
}

/// Reads a quoted string or identifier starting at `chars[start] == quote`, handling the
/// FHIRPath escapes; returns the text and the index after the closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> Result<(String, usize), FhirPathError> {
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == quote {
            return Ok((s, i + 1));
        }
        if c == '\\' {
            let e = *chars
                .get(i + 1)
                .ok_or_else(|| FhirPathError("unterminated escape".into()))?;
            i += 2;
            match e {
                'n' => s.push('\n'),
                'r' => s.push('\r'),
                't' => s.push('\t'),
                'f' => s.push('\u{c}'),
                'u' => {
                    let hex: String = chars.get(i..i + 4).unwrap_or_default().iter().collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 4)
                        .and_then(char::from_u32)
                        .ok_or_else(|| FhirPathError(format!("bad unicode escape \\u{hex}")))?;
                    s.push(code);
                    i += 4;
                }
                other => s.push(other),
            }
            continue;
        }
        s.push(c);
        i += 1;
    }
    Err(FhirPathError(format!("unterminated {quote}-quoted text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_keep_escapes_and_numbers_their_text() {
        let t = tokenize(r"a.where(b = 'it\'s \u00e9\n') | 1.50 != %resource").unwrap();
        assert_eq!(
            t,
            vec![
                Token::Ident("a".into()),
                Token::Dot,
                Token::Ident("where".into()),
                Token::LParen,
                Token::Ident("b".into()),
                Token::Eq,
                Token::Str("it's é\n".into()),
                Token::RParen,
                Token::Pipe,
                Token::Number("1.50".into()),
                Token::NotEq,
                Token::External("resource".into()),
            ]
        );
        assert_eq!(
            tokenize("`div`.$this").unwrap(),
            vec![
                Token::Ident("div".into()),
                Token::Dot,
                Token::Special("this".into())
            ]
        );
        assert!(tokenize("'open").is_err());
        assert!(tokenize("a # b").is_err());
    }
}
