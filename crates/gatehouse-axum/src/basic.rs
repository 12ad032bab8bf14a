//! HTTP Basic credentials (RFC 7617): the `HTTPBasic` analog.
//!
//! # Example
//! ```
//! use axum::{routing::get, Router};
//! use gatehouse_axum::{basic_realm, BasicAuth, ExposeSecret};
//!
//! basic_realm! {
//!     /// The metrics scraper's realm.
//!     pub Metrics = "metrics";
//! }
//!
//! async fn metrics(creds: BasicAuth<Metrics>) -> &'static str {
//!     // Checking the password is the application's job (compare in constant time).
//!     if creds.username == "scraper" && creds.password.expose_secret() == "s3cret" { "ok" } else { "no" }
//! }
//! let app: Router = Router::new().route("/metrics", get(metrics));
//! ```

use std::{fmt, marker::PhantomData};

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use secrecy::SecretString;

use crate::{AuthRejection, Challenge, MAX_CREDENTIAL_LEN};

/// The protection space a [`BasicAuth`] challenge names. Declare one with
/// [`basic_realm!`](crate::basic_realm); the realm is checked at compile time (printable
/// ASCII, no `"` or `\`).
pub trait BasicRealm: Send + Sync + 'static {
    /// Sent as `WWW-Authenticate: Basic realm="<REALM>", charset="UTF-8"`.
    const REALM: &'static str;
}

/// The realm used when none is named: `"gatehouse"`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRealm;

impl BasicRealm for DefaultRealm {
    const REALM: &'static str = "gatehouse";
}

/// Declares [`BasicRealm`] marker types.
///
/// ```
/// gatehouse_axum::basic_realm! {
///     /// Operators only.
///     pub Ops = "operations";
/// }
/// assert_eq!(<Ops as gatehouse_axum::BasicRealm>::REALM, "operations");
/// ```
///
/// A realm that cannot go inside a quoted string does not compile:
///
/// ```compile_fail
/// gatehouse_axum::basic_realm! { pub Bad = "say \"hi\""; }
/// ```
#[macro_export]
macro_rules! basic_realm {
    ($($(#[$m:meta])* $vis:vis $name:ident = $realm:literal;)+) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::BasicRealm for $name {
            const REALM: &'static str = $realm;
        }
        const _: () = assert!(
            $crate::__private::is_quotable($realm),
            "a realm must be printable ASCII without '\"' or '\\'"
        );
    )+};
}

/// `Authorization: Basic <base64(username:password)>`, decoded. The password is a
/// [`SecretString`]: `Debug` never shows it; read it with
/// [`ExposeSecret::expose_secret`](crate::ExposeSecret).
///
/// Rejections (all 401 with `WWW-Authenticate: Basic realm="<R::REALM>", charset="UTF-8"`):
/// no `Authorization` header, or one with another scheme → `not_authenticated`; longer than
/// [`MAX_CREDENTIAL_LEN`], two `Authorization` headers, bad base64, decoded bytes that are
/// not UTF-8, no `:`, or a control character → `invalid_credential`.
///
/// `Option<BasicAuth<R>>` yields `None` when no Basic credential is sent (FastAPI's
/// `HTTPBasic(auto_error=False)`, which also treats another scheme as absent) and still
/// rejects a malformed one. Verifying the password is the application's job.
pub struct BasicAuth<R: BasicRealm = DefaultRealm> {
    /// The user-id (everything before the first `:`; may be empty).
    pub username: String,
    /// The password (everything after the first `:`; may be empty or contain `:`).
    pub password: SecretString,
    realm: PhantomData<fn() -> R>,
}

impl<R: BasicRealm> BasicAuth<R> {
    /// Credentials built by hand (tests, or a caller that parsed them elsewhere).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self { username: username.into(), password: SecretString::from(password.into()), realm: PhantomData }
    }

    /// Parses one `Authorization` header value. `Ok(None)`: the scheme is not `Basic`.
    ///
    /// # Errors
    /// [`AuthRejection::InvalidCredential`] for a malformed Basic credential.
    pub fn parse(value: &[u8]) -> Result<Option<Self>, AuthRejection> {
        parse_basic(value)
            .map(|o| o.map(|(username, password)| Self { username, password, realm: PhantomData }))
            .map_err(|reason| AuthRejection::InvalidCredential { challenge: Self::challenge(), reason })
    }

    /// This extractor's challenge.
    pub fn challenge() -> Challenge {
        Challenge::Basic { realm: R::REALM }
    }

    fn from_parts(parts: &Parts) -> Result<Option<Self>, AuthRejection> {
        let found = basic_from_parts(parts, R::REALM)?;
        Ok(found.map(|(username, password)| Self { username, password, realm: PhantomData }))
    }
}

/// The Basic credential in `parts`, if the (single) `Authorization` header is Basic.
pub(crate) fn basic_from_parts(
    parts: &Parts,
    realm: &'static str,
) -> Result<Option<(String, SecretString)>, AuthRejection> {
    let invalid = |reason| AuthRejection::InvalidCredential { challenge: Challenge::Basic { realm }, reason };
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(invalid("duplicate_authorization"));
    }
    parse_basic(value.as_bytes()).map_err(invalid)
}

impl<R: BasicRealm> Clone for BasicAuth<R> {
    fn clone(&self) -> Self {
        Self { username: self.username.clone(), password: self.password.clone(), realm: PhantomData }
    }
}

impl<R: BasicRealm> fmt::Debug for BasicAuth<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("realm", &R::REALM)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Standard alphabet; padding optional (some clients drop it), trailing bits must be zero.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `Ok(None)` when the scheme is not Basic; `Err(reason)` when it is but the value is bad.
fn parse_basic(value: &[u8]) -> Result<Option<(String, SecretString)>, &'static str> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Ok(None);
    }
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err("credential_too_large");
    }
    let b64 = rest.trim_ascii();
    if b64.is_empty() {
        return Err("malformed_authorization");
    }
    let raw = BASE64.decode(b64).map_err(|_| "invalid_base64")?;
    let raw = String::from_utf8(raw).map_err(|_| "not_utf8")?;
    let (user, pass) = raw.split_once(':').ok_or("missing_colon")?;
    // RFC 7617 §2: neither part may contain control characters.
    if raw.chars().any(char::is_control) {
        return Err("control_character");
    }
    Ok(Some((user.to_owned(), SecretString::from(pass.to_owned()))))
}

impl<S: Send + Sync, R: BasicRealm> FromRequestParts<S> for BasicAuth<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts)?.ok_or(AuthRejection::MissingCredential { challenge: Self::challenge() })
    }
}

impl<S: Send + Sync, R: BasicRealm> OptionalFromRequestParts<S> for BasicAuth<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Self::from_parts(parts)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn ok(v: &str) -> (String, String) {
        let (u, p) = parse_basic(v.as_bytes()).unwrap().unwrap();
        (u, p.expose_secret().to_owned())
    }

    #[test]
    fn parses_rfc7617_examples() {
        // RFC 7617 §2's example, and a password holding a colon.
        assert_eq!(ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), ("Aladdin".into(), "open sesame".into()));
        assert_eq!(ok("basic  YTpiOmM="), ("a".into(), "b:c".into()));
        assert_eq!(ok("BASIC Og=="), (String::new(), String::new()));
        // Unpadded is accepted; non-ASCII UTF-8 too (charset="UTF-8").
        assert_eq!(ok("Basic YTpi"), ("a".into(), "b".into()));
        assert_eq!(ok("Basic w6k6w7w="), ("é".into(), "ü".into()));
    }

    #[test]
    fn other_schemes_are_not_basic() {
        assert!(parse_basic(b"Bearer abc").unwrap().is_none());
        assert!(parse_basic(b"Basically YTpi").unwrap().is_none());
        assert!(parse_basic(b"\xff\xfe").unwrap().is_none());
    }

    #[test]
    fn malformed_basic_is_refused_with_a_reason() {
        assert_eq!(parse_basic(b"Basic").unwrap_err(), "malformed_authorization");
        assert_eq!(parse_basic(b"Basic    ").unwrap_err(), "malformed_authorization");
        assert_eq!(parse_basic(b"Basic !!!!").unwrap_err(), "invalid_base64");
        assert_eq!(parse_basic(b"Basic YTpi YTpi").unwrap_err(), "invalid_base64");
        assert_eq!(parse_basic(b"Basic YWJj").unwrap_err(), "missing_colon");
        assert_eq!(parse_basic(b"Basic /w==").unwrap_err(), "not_utf8");
        assert_eq!(parse_basic(b"Basic YTpiCmM=").unwrap_err(), "control_character");
        let mut big = b"Basic ".to_vec();
        big.extend(std::iter::repeat_n(b'A', MAX_CREDENTIAL_LEN));
        assert_eq!(parse_basic(&big).unwrap_err(), "credential_too_large");
    }

    #[test]
    fn debug_hides_the_password() {
        let b = BasicAuth::<DefaultRealm>::new("alice", "hunter2");
        let shown = format!("{b:?}");
        assert!(shown.contains("alice") && shown.contains("[redacted]"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
