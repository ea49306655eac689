//! The `_cursor` text: opaque to clients, safe in a URL without percent-encoding, and exact
//! (float sort values keep every bit, so the keyset position is the one the store returned).
//!
//! Form: base64url (no padding) of a JSON array of strings
//! `["1", "f"|"b", type, id, value…]`, each value `n` (null), `i<int>`, `f<16 hex bits>` or
//! `t<text>`. The leading `1` versions the layout.

use super::{Cursor, SortValue};
use crate::fhir::element_types;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Longer texts are not cursors this server wrote.
const MAX_LEN: usize = 16 * 1024;

impl Cursor {
    pub fn encode(&self) -> String {
        let mut fields = vec![
            "1".to_string(),
            if self.backward { "b" } else { "f" }.to_string(),
            self.resource_type.clone(),
            self.id.clone(),
        ];
        fields.extend(self.values.iter().map(|v| match v {
            SortValue::Null => "n".to_string(),
            SortValue::Int(i) => format!("i{i}"),
            SortValue::Float(f) => format!("f{:016x}", f.to_bits()),
            SortValue::Text(t) => format!("t{t}"),
        }));
        let json = serde_json::Value::from(fields).to_string();
        base64url_encode(json.as_bytes())
    }

    /// `None` for any text this server could not have written.
    pub fn decode(text: &str) -> Option<Cursor> {
        if text.len() > MAX_LEN {
            return None;
        }
        let bytes = base64url_decode(text)?;
        let fields: Vec<String> = serde_json::from_slice(&bytes).ok()?;
        let [version, direction, resource_type, id, values @ ..] = fields.as_slice() else {
            return None;
        };
        if version != "1" || id.is_empty() || !element_types::is_resource_type(resource_type) {
            return None;
        }
        let backward = match direction.as_str() {
            "f" => false,
            "b" => true,
            _ => return None,
        };
        let values = values
            .iter()
            .map(|v| {
                let (tag, rest) = v.split_at_checked(1)?;
                Some(match tag {
                    "n" if rest.is_empty() => SortValue::Null,
                    "i" => SortValue::Int(rest.parse().ok()?),
                    "f" if rest.len() == 16 => {
                        SortValue::Float(f64::from_bits(u64::from_str_radix(rest, 16).ok()?))
                    }
                    "t" => SortValue::Text(rest.to_string()),
                    _ => return None,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Cursor {
            values,
            resource_type: resource_type.clone(),
            id: id.clone(),
            backward,
        })
    }
}

fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A canonical encoding leaves fewer than 6 unused bits, all zero.
    if bits >= 6 || acc != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_every_length() {
        for n in 0..10 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 250) as u8).collect();
            let text = base64url_encode(&bytes);
            assert!(text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(base64url_decode(&text), Some(bytes));
        }
        assert_eq!(base64url_encode(b"Ma"), "TWE");
        assert_eq!(base64url_decode("TWF"), None);
        assert_eq!(base64url_decode("T"), None);
    }
}
