//! RFC 9068 JWT access tokens: claims, minting and verification.

use std::{collections::HashMap, sync::Arc};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    keys::{Algorithm, SigningKey, VerifyingKey},
    Clock, ErrorKind, Result, ScopeSet,
};

/// The `typ` header gatehouse puts on access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let v: Vec<&str> = match self {
            Self::One(s) => vec![s.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        };
        v.into_iter()
    }

    /// Builds `aud` from a list: one entry becomes a string, several an array.
    pub fn from_list(list: &[String]) -> Self {
        match list {
            [one] => Self::One(one.clone()),
            many => Self::Many(many.to_vec()),
        }
    }
}

/// Claims of an access token (RFC 9068 §2.2). Only non-secret values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: `user:<uuid>` or `client:<id>`.
    pub sub: String,
    /// Audience(s).
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id (used for revocation).
    #[serde(default)]
    pub jti: String,
    /// The OAuth client the token was issued to.
    #[serde(default)]
    pub client_id: String,
    /// Space-separated granted scopes.
    #[serde(default)]
    pub scope: String,
    /// Session (refresh family) id, for user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AccessClaims {
    /// The granted scopes as a set (names that are not valid scope tokens are dropped).
    pub fn scopes(&self) -> ScopeSet {
        self.scope.split(' ').filter(|s| crate::scope::is_valid_scope_token(s)).collect()
    }
}

/// Signs access tokens with one key.
#[derive(Debug)]
pub struct TokenSigner {
    key: Arc<SigningKey>,
}

impl TokenSigner {
    /// A signer using `key`.
    pub fn new(key: Arc<SigningKey>) -> Self {
        Self { key }
    }

    /// The key in use.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs `claims` as an `at+jwt` with this key's `kid`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] if the crypto backend refuses the key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let mut header = jsonwebtoken::Header::new(self.key.algorithm().to_jwt());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.key.kid().to_owned());
        match self.key.rsa() {
            Some(rsa) => sign_rs256(rsa, &header, claims),
            None => jsonwebtoken::encode(&header, claims, self.key.encoding())
                .map_err(|e| ErrorKind::InvalidKey(e.to_string()).into()),
        }
    }
}

/// What `jsonwebtoken::encode` does for RS256 with its aws-lc backend (the same JSON, the same
/// base64url, the same RSASSA-PKCS1-v1_5 SHA-256 signature from aws-lc), with a key pair parsed
/// once instead of on every call. PKCS#1 v1.5 signatures are deterministic, so the output is
/// byte for byte what `jsonwebtoken::encode` gives (tested).
fn sign_rs256(
    rsa: &aws_lc_rs::signature::RsaKeyPair,
    header: &jsonwebtoken::Header,
    claims: &AccessClaims,
) -> Result<String> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

    let invalid = |e: &dyn std::fmt::Display| -> crate::Error { ErrorKind::InvalidKey(e.to_string()).into() };
    let header = serde_json::to_vec(header).map_err(|e| invalid(&e))?;
    let claims = serde_json::to_vec(claims).map_err(|e| invalid(&e))?;
    let mut jwt = URL_SAFE_NO_PAD.encode(header);
    jwt.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut jwt);
    let mut signature = vec![0; rsa.public_modulus_len()];
    rsa.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        jwt.as_bytes(),
        &mut signature,
    )
    .map_err(|e| invalid(&e))?;
    jwt.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
    Ok(jwt)
}

/// What a verifier accepts. Built once; cheap to share.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The pinned algorithms; a token whose `alg` is outside this set is refused, and a key
    /// only verifies its own algorithm. Defaults to `[RS256]`.
    pub algorithms: Vec<Algorithm>,
    /// The one accepted `iss`.
    pub issuer: String,
    /// Accepted audiences; the token's `aud` must contain at least one. Empty disables the check
    /// (not recommended).
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. Defaults to `30`.
    pub leeway: i64,
    /// Tokens longer than this are refused before parsing. Defaults to `8192`.
    pub max_token_len: usize,
    /// Required `typ` header (compared case-insensitively, `application/` prefix allowed).
    /// Defaults to `Some("at+jwt")`; `None` accepts any `typ` (for providers that send `JWT`).
    pub required_typ: Option<String>,
}

impl Validation {
    /// A policy pinning `issuer`, `audiences` and `algorithms`, with default leeway and limits.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, algorithms: Vec<Algorithm>) -> Self {
        Self {
            algorithms,
            issuer: issuer.into(),
            audiences,
            leeway: 30,
            max_token_len: 8192,
            required_typ: Some(ACCESS_TOKEN_TYP.to_owned()),
        }
    }
}

/// Header parameters that are refused outright: key-injection and must-understand extensions.
const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "jku", "x5u", "jwk", "x5c"];

/// Verifies access tokens against a set of known keys and a [`Validation`] policy.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    validation: Validation,
    keys: HashMap<String, (VerifyingKey, jsonwebtoken::Validation)>,
}

impl TokenVerifier {
    /// A verifier with the given keys; keys whose algorithm is not pinned are ignored.
    pub fn new(validation: Validation, keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        let keys = keys
            .into_iter()
            .filter(|k| validation.algorithms.contains(&k.algorithm()))
            .map(|k| {
                let mut v = jsonwebtoken::Validation::new(k.algorithm().to_jwt());
                // Time claims are checked below against the injected clock.
                v.validate_exp = false;
                v.validate_nbf = false;
                v.required_spec_claims.clear();
                if validation.audiences.is_empty() {
                    v.validate_aud = false;
                } else {
                    v.set_audience(&validation.audiences);
                }
                v.set_issuer(&[validation.issuer.as_str()]);
                (k.kid().to_owned(), (k, v))
            })
            .collect();
        Self { validation, keys }
    }

    /// The policy in force.
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Whether a key with this `kid` is known.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Verifies `token` and returns its claims.
    ///
    /// # Errors
    /// One of the token [`ErrorKind`]s: too large, malformed, algorithm not allowed, forbidden
    /// header, wrong type, unknown key, bad signature, wrong issuer/audience, expired, not yet valid.
    pub fn verify(&self, token: &str, clock: &dyn Clock) -> Result<AccessClaims> {
        let header = inspect_header(token, &self.validation)?;
        let (key, v) = self.keys.get(&header.kid).ok_or(ErrorKind::UnknownKey)?;
        if key.algorithm() != header.alg {
            return Err(ErrorKind::UnknownKey.into());
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, key.decoding(), v).map_err(map_jwt_error)?;
        check_times(&data.claims, clock.now(), self.validation.leeway)?;
        Ok(data.claims)
    }

    /// Re-checks only the time claims of claims this verifier verified earlier (for callers
    /// that cache verified tokens: the signature need not be checked again, expiry must).
    ///
    /// # Errors
    /// [`ErrorKind::Expired`] or [`ErrorKind::NotYetValid`].
    pub fn check_times(&self, claims: &AccessClaims, clock: &dyn Clock) -> Result<()> {
        check_times(claims, clock.now(), self.validation.leeway)
    }
}

/// The parts of a JOSE header that select a key, after the refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedHeader {
    /// The (pinned) algorithm.
    pub alg: Algorithm,
    /// The key id.
    pub kid: String,
}

/// Parses and polices a token's header without verifying anything else: length, shape,
/// `alg` pinned (never `none`), forbidden parameters, `typ`, and a `kid` present.
///
/// # Errors
/// The token [`ErrorKind`]s for each refusal.
pub fn inspect_header(token: &str, validation: &Validation) -> Result<CheckedHeader> {
    if token.len() > validation.max_token_len {
        return Err(ErrorKind::TokenTooLarge.into());
    }
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ErrorKind::MalformedToken.into());
    };
    let raw = URL_SAFE_NO_PAD.decode(h).map_err(|_| ErrorKind::MalformedToken)?;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&raw).map_err(|_| ErrorKind::MalformedToken)?;
    let alg_name = header.get("alg").and_then(Value::as_str).ok_or(ErrorKind::MalformedToken)?;
    let alg = alg_name
        .parse::<Algorithm>()
        .ok()
        .filter(|a| validation.algorithms.contains(a))
        .ok_or_else(|| ErrorKind::AlgorithmNotAllowed(alg_name.chars().take(16).collect()))?;
    if let Some(h) = FORBIDDEN_HEADERS.iter().find(|h| header.contains_key(**h)) {
        return Err(ErrorKind::ForbiddenHeader(h).into());
    }
    if let Some(required) = &validation.required_typ {
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
        let typ = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        if !typ.eq_ignore_ascii_case(required) {
            return Err(ErrorKind::WrongTokenType.into());
        }
    }
    let kid = header.get("kid").and_then(Value::as_str).ok_or(ErrorKind::UnknownKey)?;
    Ok(CheckedHeader { alg, kid: kid.to_owned() })
}

fn check_times(c: &AccessClaims, now: i64, leeway: i64) -> Result<()> {
    if c.exp <= now - leeway {
        return Err(ErrorKind::Expired.into());
    }
    if c.nbf.is_some_and(|nbf| nbf > now + leeway) || c.iat > now + leeway {
        return Err(ErrorKind::NotYetValid.into());
    }
    Ok(())
}

fn map_jwt_error(e: jsonwebtoken::errors::Error) -> crate::Error {
    use jsonwebtoken::errors::ErrorKind as J;
    match e.kind() {
        J::InvalidSignature => ErrorKind::InvalidSignature,
        J::InvalidIssuer => ErrorKind::InvalidIssuer,
        J::InvalidAudience => ErrorKind::InvalidAudience,
        J::ExpiredSignature => ErrorKind::Expired,
        J::ImmatureSignature => ErrorKind::NotYetValid,
        J::InvalidAlgorithm | J::InvalidAlgorithmName => ErrorKind::AlgorithmNotAllowed(String::new()),
        _ => ErrorKind::MalformedToken,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::keys::{Algorithm, SigningKey};

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://issuer.test".into(),
            sub: "user:01".into(),
            aud: Audience::One("api".into()),
            exp: 2_000_000_000,
            iat: 1_700_000_000,
            nbf: None,
            jti: "j-1".into(),
            client_id: "gatehouse".into(),
            scope: "me reports:read".into(),
            sid: Some("s-1".into()),
        }
    }

    #[test]
    fn rs256_tokens_are_byte_for_byte_what_jsonwebtoken_signs() {
        let key = Arc::new(SigningKey::generate(Algorithm::RS256).unwrap());
        assert!(key.rsa().is_some(), "an RS256 key keeps its parsed key pair");
        let token = TokenSigner::new(Arc::clone(&key)).sign(&claims()).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(key.kid().to_owned());
        let reference = jsonwebtoken::encode(&header, &claims(), key.encoding()).unwrap();
        assert_eq!(token, reference);
        // And jsonwebtoken verifies it with the public key only.
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["api"]);
        let back = jsonwebtoken::decode::<AccessClaims>(&token, key.verifying_key().decoding(), &v).unwrap();
        assert_eq!(back.claims, claims());
        assert_eq!(back.header.kid.as_deref(), Some(key.kid()));
    }

    #[test]
    fn other_algorithms_keep_jsonwebtokens_own_signing() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let key = Arc::new(SigningKey::generate(alg).unwrap());
            assert!(key.rsa().is_none());
            let token = TokenSigner::new(Arc::clone(&key)).sign(&claims()).unwrap();
            assert_eq!(token.split('.').count(), 3, "{alg:?}");
        }
        let key = Arc::new(SigningKey::hmac(&[7; 32]).unwrap());
        assert!(key.rsa().is_none());
        let token = TokenSigner::new(key).sign(&claims()).unwrap();
        assert_eq!(token.split('.').count(), 3);
    }
}
