//! Raw API keys from a header, a query parameter or a cookie: the `APIKeyHeader` /
//! `APIKeyQuery` / `APIKeyCookie` analogs.
//!
//! Where the key is read from is part of the type: declare a source with
//! [`api_key!`](crate::api_key) and extract [`ApiKey<ThatSource>`](ApiKey). The same
//! declaration can tell [`AuthState::with_api_key`] where [`Authenticated`] looks for a key,
//! and (feature `openapi`) becomes the document's `apiKey` security scheme.
//!
//! # Example
//! ```
//! use axum::{routing::get, Router};
//! use gatehouse_axum::{api_key, ApiKey, ExposeSecret};
//!
//! api_key! {
//!     /// Partner keys, sent as `X-Partner-Key: …`.
//!     pub PartnerKey = header("X-Partner-Key");
//! }
//!
//! async fn feed(key: ApiKey<PartnerKey>) -> String {
//!     // Verifying the key is the application's job (or `key.authenticate(&auth_state)`).
//!     format!("{} bytes of key", key.expose_secret().len())
//! }
//! let app: Router = Router::new().route("/feed", get(feed));
//! ```

use std::{borrow::Cow, fmt, marker::PhantomData};

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use secrecy::{ExposeSecret, SecretString};

use crate::{AuthError, AuthRejection, AuthState, Authenticated, Challenge, Credential, MAX_CREDENTIAL_LEN};

/// Where an API key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKeyLocation {
    /// A request header (`X-API-Key: …`).
    Header,
    /// A query parameter (`?api_key=…`), percent-decoded.
    Query,
    /// A cookie (`Cookie: api_key=…`).
    Cookie,
}

impl ApiKeyLocation {
    /// `"header"`, `"query"` or `"cookie"` — the OpenAPI `in` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Query => "query",
            Self::Cookie => "cookie",
        }
    }
}

/// Where an [`ApiKey`] is read from. Declare one with [`api_key!`](crate::api_key), which
/// checks at compile time that the name is a valid HTTP token.
pub trait ApiKeySource: Send + Sync + 'static {
    /// The header, query parameter or cookie name. Header names match case-insensitively;
    /// query and cookie names exactly.
    const NAME: &'static str;
    /// Where the key travels.
    const LOCATION: ApiKeyLocation;
}

/// Declares [`ApiKeySource`] marker types: `header("…")`, `query("…")` or `cookie("…")`.
///
/// ```
/// gatehouse_axum::api_key! {
///     /// `X-API-Key: …`
///     pub HeaderKey = header("X-API-Key");
///     /// `?api_key=…`
///     pub QueryKey = query("api_key");
///     /// `Cookie: key=…`
///     pub CookieKey = cookie("key");
/// }
/// use gatehouse_axum::{ApiKeyLocation, ApiKeySource};
/// assert_eq!(QueryKey::LOCATION, ApiKeyLocation::Query);
/// assert_eq!(HeaderKey::NAME, "X-API-Key");
/// ```
///
/// A name that is not an HTTP token does not compile:
///
/// ```compile_fail
/// gatehouse_axum::api_key! { pub Bad = header("X API Key"); }
/// ```
#[macro_export]
macro_rules! api_key {
    ($($(#[$m:meta])* $vis:vis $name:ident = $loc:ident($key:literal);)+) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::ApiKeySource for $name {
            const NAME: &'static str = $key;
            const LOCATION: $crate::ApiKeyLocation = $crate::__api_key_location!($loc);
        }
        const _: () = assert!($crate::__private::is_token($key), "an API key name must be a non-empty HTTP token");
    )+};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __api_key_location {
    (header) => {
        $crate::ApiKeyLocation::Header
    };
    (query) => {
        $crate::ApiKeyLocation::Query
    };
    (cookie) => {
        $crate::ApiKeyLocation::Cookie
    };
    ($other:ident) => {
        compile_error!(concat!("unknown API key location `", stringify!($other), "`: use header, query or cookie"))
    };
}

/// The raw key from `K`'s header, query parameter or cookie — not verified.
///
/// Rejections (all 401 with `WWW-Authenticate: ApiKey in="<location>", name="<K::NAME>"`,
/// since no registered HTTP scheme exists for API keys): the key is absent →
/// `not_authenticated`; empty, sent more than once, longer than [`MAX_CREDENTIAL_LEN`], or
/// holding non-ASCII (headers) or control characters → `invalid_credential`. Unlike FastAPI,
/// an empty key is malformed rather than absent, so `?api_key=` cannot silently mean
/// "anonymous".
///
/// `Option<ApiKey<K>>` yields `None` when the key is absent and still rejects a malformed
/// one. `Debug` never shows the key; read it with [`ExposeSecret::expose_secret`], or verify
/// it with the app's [`Authenticator`](crate::Authenticator) via [`ApiKey::authenticate`].
pub struct ApiKey<K: ApiKeySource> {
    key: SecretString,
    source: PhantomData<fn() -> K>,
}

impl<K: ApiKeySource> ApiKey<K> {
    /// A key built by hand (tests).
    pub fn new(key: impl Into<String>) -> Self {
        Self { key: SecretString::from(key.into()), source: PhantomData }
    }

    /// This extractor's challenge.
    pub fn challenge() -> Challenge {
        Challenge::ApiKey { location: K::LOCATION, name: K::NAME }
    }

    /// Verifies the key with the state's [`Authenticator`](crate::Authenticator) as a
    /// [`Credential::ApiKey`] — the same code path [`Authenticated`] takes when
    /// [`AuthState::with_api_key`] names this source. Not cached per request.
    ///
    /// # Errors
    /// 401 `invalid_credential` with this source's challenge when the key is refused;
    /// [`AuthRejection::Unavailable`] when the authenticator cannot decide.
    pub async fn authenticate(&self, state: &AuthState) -> Result<Authenticated, AuthRejection> {
        let result = state.authenticator.authenticate(Credential::ApiKey(self.key.expose_secret())).await;
        result.map(Authenticated::from).map_err(|e| match e {
            AuthError::Invalid { reason } => AuthRejection::InvalidCredential { challenge: Self::challenge(), reason },
            AuthError::Unsupported => {
                AuthRejection::InvalidCredential { challenge: Self::challenge(), reason: "unsupported_credential" }
            }
            AuthError::Unavailable => AuthRejection::Unavailable,
        })
    }
}

impl<K: ApiKeySource> ExposeSecret<str> for ApiKey<K> {
    fn expose_secret(&self) -> &str {
        self.key.expose_secret()
    }
}

impl<K: ApiKeySource> Clone for ApiKey<K> {
    fn clone(&self) -> Self {
        Self { key: self.key.clone(), source: PhantomData }
    }
}

impl<K: ApiKeySource> fmt::Debug for ApiKey<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({} {:?}, [redacted])", K::LOCATION.as_str(), K::NAME)
    }
}

/// Finds the key named `name` at `location`. `Ok(None)`: absent; `Err(reason)`: malformed.
pub(crate) fn find_api_key<'a>(
    parts: &'a Parts,
    location: ApiKeyLocation,
    name: &str,
) -> Result<Option<Cow<'a, str>>, &'static str> {
    let mut found: Option<Cow<'a, str>> = None;
    let mut add = |value: Cow<'a, str>| {
        if found.replace(value).is_some() {
            Err("duplicate_api_key")
        } else {
            Ok(())
        }
    };
    match location {
        ApiKeyLocation::Header => {
            for v in parts.headers.get_all(name) {
                add(Cow::Borrowed(v.to_str().map_err(|_| "malformed_api_key")?))?;
            }
        }
        ApiKeyLocation::Query => {
            let query = parts.uri.query().unwrap_or_default();
            for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                if k == name {
                    add(v)?;
                }
            }
        }
        ApiKeyLocation::Cookie => {
            for v in parts.headers.get_all(header::COOKIE) {
                let v = v.to_str().map_err(|_| "malformed_cookie")?;
                for (k, v) in v.split(';').filter_map(|kv| kv.trim().split_once('=')) {
                    if k == name {
                        add(Cow::Borrowed(v))?;
                    }
                }
            }
        }
    }
    let Some(key) = found else { return Ok(None) };
    if key.is_empty() {
        return Err("empty_api_key");
    }
    if key.len() > MAX_CREDENTIAL_LEN {
        return Err("credential_too_large");
    }
    if key.chars().any(char::is_control) {
        return Err("malformed_api_key");
    }
    Ok(Some(key))
}

fn from_parts<K: ApiKeySource>(parts: &Parts) -> Result<Option<ApiKey<K>>, AuthRejection> {
    match find_api_key(parts, K::LOCATION, K::NAME) {
        Ok(key) => Ok(key.map(|k| ApiKey::new(k.into_owned()))),
        Err(reason) => Err(AuthRejection::InvalidCredential { challenge: ApiKey::<K>::challenge(), reason }),
    }
}

impl<S: Send + Sync, K: ApiKeySource> FromRequestParts<S> for ApiKey<K> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        from_parts(parts)?.ok_or(AuthRejection::MissingCredential { challenge: Self::challenge() })
    }
}

impl<S: Send + Sync, K: ApiKeySource> OptionalFromRequestParts<S> for ApiKey<K> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        from_parts(parts)
    }
}
