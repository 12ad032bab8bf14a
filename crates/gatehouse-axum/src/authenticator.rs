//! Turning a raw credential into a verified [`Principal`].

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use gatehouse_core::{Clock, Principal, SystemClock, TokenVerifier};

use crate::{ApiKeyLocation, ApiKeySource};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A credential as presented, before verification.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// An API key (header, query or cookie).
    ApiKey(&'a str),
    /// A browser session cookie value.
    SessionCookie(&'a str),
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Bearer(_) => "Bearer",
            Self::ApiKey(_) => "ApiKey",
            Self::SessionCookie(_) => "SessionCookie",
        };
        write!(f, "Credential::{kind}([redacted])")
    }
}

/// Why a credential was refused. `reason` is safe to log and to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The credential is invalid, expired or revoked.
    Invalid {
        /// Short reason (`"expired"`, `"revoked"`, `"bad_signature"` …).
        reason: &'static str,
    },
    /// This authenticator does not accept that kind of credential.
    Unsupported,
    /// A dependency needed to decide is down; fail closed (503).
    Unavailable,
}

impl AuthError {
    /// Invalid with a reason.
    pub fn invalid(reason: &'static str) -> Self {
        Self::Invalid { reason }
    }
}

/// Verifies credentials. Implement it to plug in revocation, API keys or session cookies;
/// [`JwtAuthenticator`] verifies access tokens with local keys.
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies `credential`.
    fn authenticate<'a>(&'a self, credential: Credential<'a>) -> BoxFuture<'a, Result<Principal, AuthError>>;

    /// Verifies `credential`, returning a shared principal. The extractors call this one.
    /// The default wraps [`authenticate`](Self::authenticate); an implementation that
    /// caches principals can override it to hand out its cached `Arc` without a copy.
    fn authenticate_shared<'a>(
        &'a self,
        credential: Credential<'a>,
    ) -> BoxFuture<'a, Result<Arc<Principal>, AuthError>> {
        Box::pin(async move { self.authenticate(credential).await.map(Arc::new) })
    }

    /// Verifies `credential` at once if that needs no waiting (say, a bearer token this
    /// authenticator has verified before and cached), or returns `None` to have the caller
    /// await [`authenticate_shared`](Self::authenticate_shared). The extractors and
    /// [`crate::RequireScopesLayer`] try it first: a request answered here costs no boxed
    /// future. The default answers `None`.
    ///
    /// A [`Credential::Bearer`] reaches this method before its characters are checked against
    /// RFC 6750's `b64token` (every other check has been made): answer `Ok` only for a token
    /// verified before. An `Err` or `None` answer is used only if the token passes that check,
    /// so a malformed token is still refused as `malformed_authorization`.
    fn authenticate_cached(&self, credential: &Credential<'_>) -> Option<Result<Arc<Principal>, AuthError>> {
        let _ = credential;
        None
    }

    /// [`authenticate_cached`](Self::authenticate_cached) for a bearer token as the raw bytes
    /// of the `Authorization` header after `Bearer `: nothing about them is checked yet, not
    /// even UTF-8. The same contract applies: answer `Ok` only for a token verified before
    /// (byte for byte); any other answer is used only once the token passes the `b64token`
    /// check. The default converts the bytes (`None` if they are not UTF-8) and asks
    /// [`authenticate_cached`](Self::authenticate_cached); an authenticator whose cache is
    /// keyed by bytes can override it to skip that conversion, which scans the whole token.
    fn authenticate_cached_bearer(&self, token: &[u8]) -> Option<Result<Arc<Principal>, AuthError>> {
        let token = std::str::from_utf8(token).ok()?;
        self.authenticate_cached(&Credential::Bearer(token))
    }
}

/// Verifies bearer JWTs with a [`TokenVerifier`]; refuses other credential kinds.
#[derive(Debug)]
pub struct JwtAuthenticator {
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
}

impl JwtAuthenticator {
    /// Uses the system clock.
    pub fn new(verifier: TokenVerifier) -> Self {
        Self { verifier, clock: Arc::new(SystemClock) }
    }

    /// Uses an injected clock.
    pub fn with_clock(verifier: TokenVerifier, clock: Arc<dyn Clock>) -> Self {
        Self { verifier, clock }
    }

    /// Verifies a token synchronously.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] with the core error's reason.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verifier
            .verify(token, self.clock.as_ref())
            .map(|c| Principal::from_claims(&c))
            .map_err(|e| AuthError::invalid(e.reason()))
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate<'a>(&'a self, credential: Credential<'a>) -> BoxFuture<'a, Result<Principal, AuthError>> {
        let out = match credential {
            Credential::Bearer(t) => self.verify(t),
            _ => Err(AuthError::Unsupported),
        };
        Box::pin(std::future::ready(out))
    }
}

/// What the extractors need from application state (`AuthState: FromRef<YourState>`).
#[derive(Clone)]
pub struct AuthState {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) api_key: Option<(ApiKeyLocation, &'static str)>,
    pub(crate) session_cookie: Option<&'static str>,
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState")
            .field("api_key", &self.api_key)
            .field("session_cookie", &self.session_cookie)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    /// Bearer tokens only.
    pub fn new(authenticator: Arc<dyn Authenticator>) -> Self {
        Self { authenticator, api_key: None, session_cookie: None }
    }

    /// Also accept an API key in this header (e.g. `"x-api-key"`), wherever a bearer token is.
    /// Prefer [`AuthState::with_api_key`], which takes the same declaration as the
    /// [`ApiKey`](crate::ApiKey) extractor and the OpenAPI scheme.
    pub fn with_api_key_header(mut self, header: &'static str) -> Self {
        self.api_key = Some((ApiKeyLocation::Header, header));
        self
    }

    /// Also accept an API key from `K`'s header, query parameter or cookie (declared with
    /// [`api_key!`](crate::api_key)), wherever a bearer token is. The key goes to the
    /// authenticator as [`Credential::ApiKey`]; a bearer token, when present, wins.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use gatehouse_axum::{api_key, AuthState, Authenticator};
    /// api_key! { pub XApiKey = header("X-API-Key"); }
    /// # fn f(authenticator: Arc<dyn Authenticator>) -> AuthState {
    /// AuthState::new(authenticator).with_api_key::<XApiKey>()
    /// # }
    /// ```
    pub fn with_api_key<K: ApiKeySource>(mut self) -> Self {
        self.api_key = Some((K::LOCATION, K::NAME));
        self
    }

    /// Where [`Authenticated`](crate::Authenticated) looks for an API key, if anywhere.
    pub fn api_key_source(&self) -> Option<(ApiKeyLocation, &'static str)> {
        self.api_key
    }

    /// Also accept a session cookie of this name.
    pub fn with_session_cookie(mut self, name: &'static str) -> Self {
        self.session_cookie = Some(name);
        self
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Arc<dyn Authenticator> {
        &self.authenticator
    }
}
