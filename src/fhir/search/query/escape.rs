//! The escaping rules of search values (search.html "Escaping Search Parameters"): `\,` `\$`
//! `\|` and `\\` stand for the literal character. Splitting keeps escapes in the pieces, so a
//! value can be split on `,`, then `$`, then `|`, and unescaped once at the end.

/// Splits on every `sep` not preceded by an escaping backslash. Never fails: a lone trailing
/// `\` stays in the last piece.
pub fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            pieces.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    pieces.push(&s[start..]);
    pieces
}

/// Resolves the escapes. A backslash before any other character (or at the end) is kept as
/// written: clients that do not know the rule still get their text searched.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some(&n @ (',' | '$' | '|' | '\\')) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_on_unescaped_separators() {
        assert_eq!(split_unescaped(r"a,b\,c,", ','), vec!["a", r"b\,c", ""]);
        assert_eq!(split_unescaped(r"a\\,b", ','), vec![r"a\\", "b"]);
        assert_eq!(split_unescaped(r"\", ','), vec![r"\"]);
        assert_eq!(unescape(r"a\,b\$c\|d\\e\x\"), r"a,b$c|d\e\x\");
    }
}
