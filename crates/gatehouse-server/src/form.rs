//! Strict `application/x-www-form-urlencoded` parsing for the OAuth endpoints: invalid
//! UTF-8, repeated parameters (RFC 6749 §3.2) and too many fields are errors, not guesses.

use std::collections::HashMap;

use percent_encoding::percent_decode;

/// Most parameters an OAuth request may carry.
pub const MAX_FIELDS: usize = 32;

/// Parses a form body into name → value.
///
/// # Errors
/// A description of the first problem.
pub fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        if out.len() >= MAX_FIELDS {
            return Err(format!("more than {MAX_FIELDS} parameters"));
        }
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let k = decode(k)?;
        let v = decode(v)?;
        if out.contains_key(&k) {
            return Err(format!("parameter {k:?} is repeated"));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn decode(raw: &[u8]) -> Result<String, String> {
    let plus: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    let bytes: Vec<u8> = percent_decode(&plus).collect();
    String::from_utf8(bytes).map_err(|_| "the form is not valid UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let f = parse_form(b"grant_type=password&username=al%20ice&password=a+b%2Bc").unwrap();
        assert_eq!(f["username"], "al ice");
        assert_eq!(f["password"], "a b+c");
    }

    #[test]
    fn refuses_duplicates_bad_utf8_and_floods() {
        assert!(parse_form(b"a=1&a=2").is_err());
        assert!(parse_form(b"a=%ff%fe").is_err());
        let many: Vec<String> = (0..40).map(|i| format!("k{i}=v")).collect();
        assert!(parse_form(many.join("&").as_bytes()).is_err());
    }
}
