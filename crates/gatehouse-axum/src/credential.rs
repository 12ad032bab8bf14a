//! Raw credential extractors: the `OAuth2PasswordBearer` / `HTTPBearer` analogs.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};

use crate::AuthRejection;

/// The token from `Authorization: Bearer <token>`. Missing → 401 `WWW-Authenticate: Bearer`;
/// another scheme or a malformed value → 401 `invalid_token`.
///
/// `Option<BearerToken>` yields `None` when the header is absent and still rejects a
/// malformed one (FastAPI's `auto_error=False`).
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(pub String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

/// Longest `Authorization` value we will look at (bytes).
pub const MAX_CREDENTIAL_LEN: usize = 8192;

/// Whether `b` is an RFC 6750 `b64token` character. Written as comparisons joined with `|`
/// (no table, no short-circuit) so the compiler checks many bytes per instruction: this runs
/// over every byte of every token.
#[inline(always)]
const fn is_b64token(b: u8) -> bool {
    (b.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'A') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
        | (b == b'=')
}

/// Whether every byte is a `b64token` character, 32 bytes at a time. A token that
/// [`split_bearer`] returned and that passes this would also pass [`parse_bearer`].
pub(crate) fn all_b64token(s: &[u8]) -> bool {
    let mut chunks = s.chunks_exact(32);
    for c in &mut chunks {
        if !c.iter().fold(true, |ok, &b| ok & is_b64token(b)) {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| is_b64token(b))
}

/// Parses an `Authorization` header value as a bearer token (RFC 6750 §2.1 `b64token`).
pub fn parse_bearer(value: &[u8]) -> Result<&str, AuthRejection> {
    let token = split_bearer(value)?;
    if !all_b64token(token) {
        return Err(malformed());
    }
    // All ASCII by now, so this cannot fail.
    std::str::from_utf8(token).map_err(|_| malformed())
}

fn malformed() -> AuthRejection {
    AuthRejection::InvalidToken { reason: "malformed_authorization" }
}

/// The token part of a `Bearer` value (scheme matched case-insensitively, spaces after it
/// skipped, not empty, within the length limit), its bytes not yet checked (not even UTF-8).
/// For looking a token up among tokens that passed [`parse_bearer`] before (an exact match
/// needs no second check); anything else must pass [`all_b64token`] first.
pub(crate) fn split_bearer(value: &[u8]) -> Result<&[u8], AuthRejection> {
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(AuthRejection::InvalidToken { reason: "token_too_large" });
    }
    let space = value.iter().position(|&b| b == b' ').ok_or_else(malformed)?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(malformed());
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[start..];
    if token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

fn bearer_from(parts: &Parts) -> Result<Option<BearerToken>, AuthRejection> {
    match parts.headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(v) => parse_bearer(v.as_bytes()).map(|t| Some(BearerToken(t.to_owned()))),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        bearer_from(parts)?.ok_or(AuthRejection::Missing)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for BearerToken {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        bearer_from(parts)
    }
}

/// Reads a cookie value by name from the `Cookie` headers.
pub fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(parse_bearer(b"Bearer abc.def-ghi").unwrap(), "abc.def-ghi");
        assert_eq!(parse_bearer(b"bearer abc").unwrap(), "abc");
        assert!(parse_bearer(b"Basic abc").is_err());
        assert!(parse_bearer(b"Bearer").is_err());
        assert!(parse_bearer(b"Bearer ").is_err());
        assert!(parse_bearer(b"Bearer a b").is_err());
        assert!(parse_bearer(b"Bearer \xff").is_err());
        assert!(parse_bearer(&[b'x'; 9000]).is_err());
        assert_eq!(parse_bearer(b"BEARER   a=").unwrap(), "a=");
        assert!(parse_bearer(b"Bearer\tabc").is_err());
        assert!(parse_bearer(b"\xffearer abc").is_err());
    }

    /// Every byte value, at every position around the 32-byte chunk boundaries, is accepted
    /// exactly when RFC 6750 allows it.
    #[test]
    fn every_byte_at_every_chunk_position() {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
        for len in [1usize, 31, 32, 33, 64, 65, 700] {
            for pos in [0, 1, 30, 31, 32, 33, 63, 64, len - 1].into_iter().filter(|&p| p < len) {
                for b in 0..=255u8 {
                    let mut value = b"Bearer ".to_vec();
                    value.extend(std::iter::repeat_n(b'a', len));
                    value[7 + pos] = b;
                    let parsed = parse_bearer(&value);
                    // A leading space is skipped (several spaces may separate scheme and token).
                    let expect = allowed(b) || (b == b' ' && pos == 0 && len > 1);
                    assert_eq!(parsed.is_ok(), expect, "byte {b:#04x} at {pos} of {len}");
                }
            }
        }
    }
}
