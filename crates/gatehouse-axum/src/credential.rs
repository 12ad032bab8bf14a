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

/// RFC 6750 `b64token` characters, as a table: this runs over every byte of every token.
const B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        c += 1;
    }
    t
};

/// Parses an `Authorization` header value as a bearer token (RFC 6750 §2.1 `b64token`).
pub fn parse_bearer(value: &[u8]) -> Result<&str, AuthRejection> {
    let bad = || AuthRejection::InvalidToken { reason: "malformed_authorization" };
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(AuthRejection::InvalidToken { reason: "token_too_large" });
    }
    let s = std::str::from_utf8(value).map_err(|_| bad())?;
    let (scheme, token) = s.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(bad());
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() || !token.bytes().all(|c| B64TOKEN[usize::from(c)]) {
        return Err(bad());
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
    }
}
