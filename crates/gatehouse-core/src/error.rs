//! The one error type of the core crate.

use std::fmt;

/// An error from the core crate. Cheap to move: the kind is boxed.
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// What went wrong. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token is longer than the configured maximum.
    TokenTooLarge,
    /// The token is not three base64url segments with JSON header and claims.
    MalformedToken,
    /// The `alg` header names an algorithm outside the pinned set (including `none`).
    AlgorithmNotAllowed(String),
    /// The header carries a parameter we refuse (`crit`, `jku`, `x5u`, `jwk`, `x5c`).
    ForbiddenHeader(&'static str),
    /// The `typ` header is not the required one (e.g. an ID token presented as access token).
    WrongTokenType,
    /// No key with this `kid` (or the key's algorithm differs from the header's).
    UnknownKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    NotYetValid,
    /// `iss` is not the pinned issuer.
    InvalidIssuer,
    /// `aud` contains none of the accepted audiences.
    InvalidAudience,
    /// A scope name contains characters RFC 6749 §3.3 does not allow.
    InvalidScope(String),
    /// Key material could not be generated, parsed or used.
    InvalidKey(String),
    /// A shared secret is too short or otherwise unusable.
    WeakSecret(String),
    /// A password hash string could not be parsed or produced.
    PasswordHash(String),
    /// Invalid hashing parameters.
    InvalidParams(String),
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error and returns its kind.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// A short machine-readable reason, safe to log and to show (`"expired"`, `"bad_signature"` …).
    pub fn reason(&self) -> &'static str {
        match &*self.0 {
            ErrorKind::TokenTooLarge => "token_too_large",
            ErrorKind::MalformedToken => "malformed",
            ErrorKind::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            ErrorKind::ForbiddenHeader(_) => "forbidden_header",
            ErrorKind::WrongTokenType => "wrong_token_type",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::InvalidSignature => "bad_signature",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::InvalidIssuer => "invalid_issuer",
            ErrorKind::InvalidAudience => "invalid_audience",
            ErrorKind::InvalidScope(_) => "invalid_scope",
            ErrorKind::InvalidKey(_) => "invalid_key",
            ErrorKind::WeakSecret(_) => "weak_secret",
            ErrorKind::PasswordHash(_) => "password_hash",
            ErrorKind::InvalidParams(_) => "invalid_params",
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self(Box::new(kind))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ErrorKind::TokenTooLarge => f.write_str("token exceeds the maximum length"),
            ErrorKind::MalformedToken => f.write_str("token is malformed"),
            ErrorKind::AlgorithmNotAllowed(a) => write!(f, "algorithm {a:?} is not allowed"),
            ErrorKind::ForbiddenHeader(h) => {
                write!(f, "token header parameter {h:?} is not accepted")
            }
            ErrorKind::WrongTokenType => f.write_str("token type is not an access token"),
            ErrorKind::UnknownKey => f.write_str("token was signed by an unknown key"),
            ErrorKind::InvalidSignature => f.write_str("token signature is invalid"),
            ErrorKind::Expired => f.write_str("token has expired"),
            ErrorKind::NotYetValid => f.write_str("token is not valid yet"),
            ErrorKind::InvalidIssuer => f.write_str("token issuer is not accepted"),
            ErrorKind::InvalidAudience => f.write_str("token audience is not accepted"),
            ErrorKind::InvalidScope(s) => write!(f, "invalid scope name {s:?}"),
            ErrorKind::InvalidKey(m) => write!(f, "invalid key: {m}"),
            ErrorKind::WeakSecret(m) => write!(f, "weak secret: {m}"),
            ErrorKind::PasswordHash(m) => write!(f, "password hash error: {m}"),
            ErrorKind::InvalidParams(m) => write!(f, "invalid parameters: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias for the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
