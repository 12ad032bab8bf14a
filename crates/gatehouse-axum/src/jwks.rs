//! Verifying access tokens from a remote issuer — gatehouse or any OpenID Connect provider
//! (Keycloak, Auth0, Entra ID, …) — through discovery and its published JWKS.
//!
//! [`JwksAuthenticator`] is an [`Authenticator`]: given only the issuer URL, it reads
//! `{issuer}/.well-known/openid-configuration` (falling back to the RFC 8414
//! `/.well-known/oauth-authorization-server`), checks that the metadata names exactly that
//! issuer, fetches the `jwks_uri` and caches the keys. Tokens are then verified locally with
//! issuer, audience and algorithms pinned. The provider is contacted again only
//!
//! - when a token names a `kid` that is not cached (a key rotation), at most once per
//!   [`min_refresh_interval`](JwksAuthenticatorBuilder::min_refresh_interval) — a flood of
//!   tokens with forged key ids costs the provider one request per interval, not one each;
//! - periodically in the background
//!   ([`refresh_interval`](JwksAuthenticatorBuilder::refresh_interval)), so retired keys
//!   stop being trusted.
//!
//! No request ever waits on the network otherwise. Tokens whose header is malformed, names a
//! refused algorithm or type, or carries `jku`/`x5u`/`crit` are refused before any lookup.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use gatehouse_axum::{jwks::JwksAuthenticator, scopes, AuthState, Scoped};
//!
//! scopes! { pub ReportsRead = ["reports:read"]; }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let jwks = JwksAuthenticator::builder("https://auth.example.com")
//!     .audience("reports-api")
//!     .build()?;
//! // Optional: fail fast (or just log) if the issuer cannot be reached at start-up.
//! jwks.refresh().await?;
//!
//! let app: Router = Router::new()
//!     .route("/reports", get(|user: Scoped<ReportsRead>| async move { user.subject.to_string() }))
//!     .with_state(AuthState::new(Arc::new(jwks)));
//! # Ok(()) }
//! ```
//!
//! # Providers
//! - Tokens must carry `typ: at+jwt` (RFC 9068) by default; Keycloak, Auth0 and Entra send
//!   `JWT`: use [`required_typ`](JwksAuthenticatorBuilder::required_typ)`(Some("JWT"))` or
//!   `None`. With a looser `typ` the audience check is what keeps ID tokens out, so pin the
//!   API's own audience, never a client id.
//! - Scopes come from the space-separated `scope` claim, or from `scp` (a string or an array,
//!   as Entra ID sends); the client from `client_id`, or `azp`.
//! - Only `https` URLs are fetched, except on loopback hosts (`127.0.0.0/8`, `::1`,
//!   `localhost`) or with [`allow_insecure_http`](JwksAuthenticatorBuilder::allow_insecure_http).
//!   Redirects are not followed.

use std::{
    fmt,
    net::IpAddr,
    sync::{Arc, OnceLock, PoisonError, RwLock, Weak},
    time::Duration,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_core::{
    inspect_header, is_valid_scope_token, AccessClaims, Algorithm, Clock, Principal, ScopeSet, SystemClock,
    TokenVerifier, Validation, VerifyingKey,
};
use reqwest::Url;
use serde_json::Value;
use tokio::task::AbortHandle;

use crate::{AuthError, Authenticator, BoxFuture, Credential};

/// Default for [`JwksAuthenticatorBuilder::min_refresh_interval`].
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Default for [`JwksAuthenticatorBuilder::refresh_interval`].
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Default for [`JwksAuthenticatorBuilder::http_timeout`].
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`JwksAuthenticatorBuilder::max_response_bytes`].
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;

const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";
const OAUTH_DISCOVERY: &str = "/.well-known/oauth-authorization-server";

// ---------------------------------------------------------------------------------------------
// Errors

/// An error from building a [`JwksAuthenticator`] or from fetching the issuer's documents.
/// Messages name URLs and settings, never token contents.
#[derive(Debug)]
pub struct JwksError(Box<JwksErrorKind>);

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksErrorKind {
    /// A builder setting is unusable.
    Config {
        /// The builder method / setting, e.g. `"issuer"`.
        setting: &'static str,
        /// Why.
        message: String,
    },
    /// A request failed: connection, timeout, or a non-success status.
    Http {
        /// The URL requested.
        url: String,
        /// What happened.
        message: String,
    },
    /// A response body was larger than [`JwksAuthenticatorBuilder::max_response_bytes`].
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A response was not the expected JSON document.
    InvalidDocument {
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The discovery document describes another issuer (OpenID Connect Discovery §4.3,
    /// RFC 8414 §3.3 require an exact match).
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The `issuer` the document names.
        found: String,
    },
}

impl JwksError {
    /// The kind of this error.
    pub fn kind(&self) -> &JwksErrorKind {
        &self.0
    }

    fn config(setting: &'static str, message: impl Into<String>) -> Self {
        JwksErrorKind::Config { setting, message: message.into() }.into()
    }

    fn http(url: &Url, message: impl fmt::Display) -> Self {
        JwksErrorKind::Http { url: url.to_string(), message: message.to_string() }.into()
    }

    fn document(url: &Url, message: impl Into<String>) -> Self {
        JwksErrorKind::InvalidDocument { url: url.to_string(), message: message.into() }.into()
    }
}

impl From<JwksErrorKind> for JwksError {
    fn from(kind: JwksErrorKind) -> Self {
        Self(Box::new(kind))
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            JwksErrorKind::Config { setting, message } => {
                write!(f, "invalid JWKS setting `{setting}`: {message}")
            }
            JwksErrorKind::Http { url, message } => write!(f, "request to {url} failed: {message}"),
            JwksErrorKind::TooLarge { url, limit } => {
                write!(f, "response from {url} exceeds {limit} bytes")
            }
            JwksErrorKind::InvalidDocument { url, message } => {
                write!(f, "unusable document at {url}: {message}")
            }
            JwksErrorKind::IssuerMismatch { expected, found } => {
                write!(f, "discovery metadata names issuer {found:?}, expected exactly {expected:?}")
            }
        }
    }
}

impl std::error::Error for JwksError {}

// ---------------------------------------------------------------------------------------------
// Builder

/// Configuration for a [`JwksAuthenticator`]; [`build`](Self::build) checks it.
#[derive(Debug, Clone)]
pub struct JwksAuthenticatorBuilder {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    required_typ: Option<String>,
    leeway: Duration,
    jwks_uri: Option<String>,
    min_refresh_interval: Duration,
    refresh_interval: Duration,
    http_timeout: Duration,
    max_response_bytes: usize,
    allow_insecure_http: bool,
    clock: Arc<dyn Clock>,
}

impl JwksAuthenticatorBuilder {
    fn new(issuer: String) -> Self {
        Self {
            issuer,
            audiences: Vec::new(),
            algorithms: vec![Algorithm::RS256],
            required_typ: Some(gatehouse_core::ACCESS_TOKEN_TYP.to_owned()),
            leeway: Duration::from_secs(30),
            jwks_uri: None,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_insecure_http: false,
            clock: Arc::new(SystemClock),
        }
    }

    /// Adds an accepted audience; a token's `aud` must contain at least one. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several accepted audiences.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// The pinned signature algorithms (replaces the set). A token's `alg` never chooses the
    /// key type: each key verifies only its own algorithm. Defaults to `[RS256]`. `HS256` is
    /// refused: a JWKS never carries shared secrets.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The required `typ` header (case-insensitive, `application/` prefix allowed), or `None`
    /// to accept any. Defaults to `Some("at+jwt")` (RFC 9068, what gatehouse sends).
    pub fn required_typ(mut self, typ: Option<&str>) -> Self {
        self.required_typ = typ.map(str::to_owned);
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (whole seconds). Defaults to 30 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Uses this JWKS URL instead of discovering it (for providers without a discovery
    /// document). Defaults to `None`: discover.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// The least time between two fetches caused by tokens with an unknown `kid`, measured
    /// with the [`clock`](Self::clock) (whole seconds, at least 1 s). Defaults to 10 s.
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// How often the keys are re-fetched in the background (at least
    /// [`min_refresh_interval`](Self::min_refresh_interval)). Defaults to 5 minutes.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Total time allowed for one HTTP request (connect included). Defaults to 5 s.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The largest discovery or JWKS document accepted, in bytes. Defaults to 256 KiB.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Allows plain `http` URLs on non-loopback hosts (e.g. inside a private network).
    /// Defaults to `false`: `https` only, except on loopback hosts.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The clock for token times and for the refresh rate limit. Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and builds the authenticator. No request is made here: keys
    /// are loaded by a background task (started now when called inside a Tokio runtime,
    /// otherwise on first use), on the first token, or by [`JwksAuthenticator::refresh`].
    ///
    /// # Errors
    /// [`JwksErrorKind::Config`] naming the setting: an issuer that is not an absolute
    /// `https` URL without query or fragment (`http` only on loopback unless allowed), no
    /// audience, no or a symmetric algorithm, a bad `jwks_uri`, an empty `required_typ`,
    /// intervals below 1 s or out of order, a zero timeout or size limit.
    pub fn build(self) -> Result<JwksAuthenticator, JwksError> {
        let issuer_url =
            Url::parse(&self.issuer).map_err(|e| JwksError::config("issuer", format!("not an absolute URL: {e}")))?;
        check_url(&issuer_url, self.allow_insecure_http).map_err(|m| JwksError::config("issuer", m))?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(JwksError::config("issuer", "must not have a query or fragment"));
        }
        let jwks_uri = match &self.jwks_uri {
            None => None,
            Some(u) => {
                let url =
                    Url::parse(u).map_err(|e| JwksError::config("jwks_uri", format!("not an absolute URL: {e}")))?;
                check_url(&url, self.allow_insecure_http).map_err(|m| JwksError::config("jwks_uri", m))?;
                Some(url)
            }
        };
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(JwksError::config("audience", "at least one non-empty audience is required"));
        }
        if self.algorithms.is_empty() {
            return Err(JwksError::config("algorithms", "at least one algorithm is required"));
        }
        if let Some(a) = self.algorithms.iter().find(|a| !a.is_asymmetric()) {
            return Err(JwksError::config(
                "algorithms",
                format!("{a} keys are shared secrets and are never published in a JWKS"),
            ));
        }
        if self.required_typ.as_deref().is_some_and(str::is_empty) {
            return Err(JwksError::config("required_typ", "must be non-empty (use None to accept any typ)"));
        }
        if self.min_refresh_interval < Duration::from_secs(1) {
            return Err(JwksError::config("min_refresh_interval", "must be at least 1 second"));
        }
        if self.refresh_interval < self.min_refresh_interval {
            return Err(JwksError::config("refresh_interval", "must be at least min_refresh_interval"));
        }
        if self.http_timeout.is_zero() {
            return Err(JwksError::config("http_timeout", "must be positive"));
        }
        if self.max_response_bytes == 0 {
            return Err(JwksError::config("max_response_bytes", "must be positive"));
        }
        let leeway = i64::try_from(self.leeway.as_secs())
            .ok()
            .filter(|l| *l <= 3600)
            .ok_or_else(|| JwksError::config("leeway", "must be at most one hour"))?;

        let http = reqwest::Client::builder()
            .timeout(self.http_timeout)
            .connect_timeout(self.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse-axum/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JwksError::config("http_client", e.to_string()))?;

        let mut validation = Validation::new(self.issuer.clone(), self.audiences, self.algorithms);
        validation.required_typ = self.required_typ;
        validation.leeway = leeway;
        let d = self.min_refresh_interval;
        let min_refresh_secs = i64::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(i64::MAX);

        let inner = Arc::new(Inner {
            keys: RwLock::new(Arc::new(KeySet::empty(&validation))),
            fetch: tokio::sync::Mutex::new(FetchState { jwks_uri: jwks_uri.clone(), last_attempt: None }),
            issuer: self.issuer,
            issuer_url,
            validation,
            clock: self.clock,
            http,
            min_refresh_secs,
            refresh_interval: self.refresh_interval,
            min_refresh_interval: self.min_refresh_interval,
            max_response_bytes: self.max_response_bytes,
            allow_insecure_http: self.allow_insecure_http,
            refresher: OnceLock::new(),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            Inner::ensure_refresher(&inner);
        }
        Ok(JwksAuthenticator { inner })
    }
}

/// Whether a URL may be fetched: `https`, or `http` on a loopback host (or when allowed).
fn check_url(url: &Url, allow_insecure_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(url) => {}
        "http" => return Err(format!("{url} uses plain http on a non-loopback host (allow_insecure_http to permit)")),
        other => return Err(format!("unsupported URL scheme {other:?}")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URL must not carry credentials".into());
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The discovery URLs to try for `issuer`, in order: OpenID Connect Discovery (path
/// appended), then RFC 8414 (well-known inserted before the path).
fn discovery_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}{OIDC_DISCOVERY}"));
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("{OAUTH_DISCOVERY}{path}"));
    vec![oidc, oauth]
}

// ---------------------------------------------------------------------------------------------
// The authenticator

/// Verifies bearer JWTs against the keys an issuer publishes (see the [module docs](self)).
/// Cheap to clone; clones share one key cache and one background refresh task, which stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct JwksAuthenticator {
    inner: Arc<Inner>,
}

impl fmt::Debug for JwksAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksAuthenticator")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.validation.audiences)
            .field("algorithms", &self.inner.validation.algorithms)
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

struct Inner {
    issuer: String,
    issuer_url: Url,
    validation: Validation,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    min_refresh_secs: i64,
    min_refresh_interval: Duration,
    refresh_interval: Duration,
    max_response_bytes: usize,
    allow_insecure_http: bool,
    /// The current keys; replaced wholesale on every successful fetch.
    keys: RwLock<Arc<KeySet>>,
    /// Serialises fetches (single flight) and holds the rate-limit state.
    fetch: tokio::sync::Mutex<FetchState>,
    /// The background refresh task, once started.
    refresher: OnceLock<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.refresher.get() {
            task.abort();
        }
    }
}

struct KeySet {
    verifier: TokenVerifier,
    kids: Vec<String>,
    /// 0 until the first successful fetch; +1 on each.
    generation: u64,
}

impl KeySet {
    fn empty(validation: &Validation) -> Self {
        Self { verifier: TokenVerifier::new(validation.clone(), []), kids: Vec::new(), generation: 0 }
    }
}

struct FetchState {
    jwks_uri: Option<Url>,
    /// Clock time of the last fetch attempt, successful or not.
    last_attempt: Option<i64>,
}

/// What an on-demand refresh did.
enum Refresh {
    /// Keys were fetched (now or by a concurrent caller).
    Done,
    /// Skipped: the last attempt was too recent.
    RateLimited,
    /// The fetch failed.
    Failed,
}

impl JwksAuthenticator {
    /// Starts configuring an authenticator for tokens issued by `issuer` (the exact `iss`
    /// value, e.g. `https://auth.example.com` or `https://kc.example/realms/main`).
    pub fn builder(issuer: impl Into<String>) -> JwksAuthenticatorBuilder {
        JwksAuthenticatorBuilder::new(issuer.into())
    }

    /// The pinned issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The `kid`s of the cached keys (empty until the first successful fetch).
    pub fn key_ids(&self) -> Vec<String> {
        self.inner.snapshot().kids.clone()
    }

    /// Fetches the keys now (running discovery first if it has not succeeded yet), bypassing
    /// the rate limit, and returns how many usable keys the issuer publishes. Concurrent
    /// calls and on-demand refreshes share one fetch at a time.
    ///
    /// # Errors
    /// A [`JwksError`] when discovery or the JWKS fetch fails; the cached keys are kept.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let mut st = self.inner.fetch.lock().await;
        self.inner.fetch_locked(&mut st).await
    }

    /// Verifies a bearer token and maps its claims to a [`Principal`].
    ///
    /// # Errors
    /// [`AuthError::Invalid`] with the reason (`"unknown_key"`, `"expired"`,
    /// `"invalid_audience"` …); [`AuthError::Unavailable`] while no keys could be loaded yet.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        Inner::ensure_refresher(&self.inner);
        let inner = &self.inner;
        let header = inspect_header(token, &inner.validation).map_err(|e| AuthError::invalid(e.reason()))?;
        let mut keys = inner.snapshot();
        if !keys.verifier.knows_kid(&header.kid) {
            let outcome = inner.refresh_on_demand(keys.generation).await;
            keys = inner.snapshot();
            if keys.generation == 0 {
                // Nothing could ever be loaded: we cannot tell good tokens from bad.
                return Err(AuthError::Unavailable);
            }
            if !keys.verifier.knows_kid(&header.kid) {
                tracing::debug!(
                    issuer = %inner.issuer,
                    rate_limited = matches!(outcome, Refresh::RateLimited),
                    "token names a key the issuer does not publish"
                );
                return Err(AuthError::invalid("unknown_key"));
            }
        }
        let claims = keys.verifier.verify(token, inner.clock.as_ref()).map_err(|e| AuthError::invalid(e.reason()))?;
        Ok(principal_from(token, &claims))
    }
}

impl Authenticator for JwksAuthenticator {
    fn authenticate<'a>(&'a self, credential: Credential<'a>) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move {
            match credential {
                Credential::Bearer(token) => self.verify(token).await,
                _ => Err(AuthError::Unsupported),
            }
        })
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Starts the background refresh task once (needs a Tokio runtime).
    fn ensure_refresher(this: &Arc<Self>) {
        if this.refresher.get().is_some() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let task = rt.spawn(run_refresher(Arc::downgrade(this)));
        if let Err(duplicate) = this.refresher.set(task.abort_handle()) {
            // Another thread started one first.
            duplicate.abort();
        }
    }

    /// A refresh caused by an unknown `kid` (or by no keys at all): coalesces with a
    /// concurrent fetch and honours the rate limit.
    async fn refresh_on_demand(&self, seen_generation: u64) -> Refresh {
        let mut st = self.fetch.lock().await;
        if self.snapshot().generation != seen_generation {
            return Refresh::Done;
        }
        let now = self.clock.now();
        if let Some(last) = st.last_attempt {
            // A clock that moved backwards does not block refreshes forever.
            if now >= last && now - last < self.min_refresh_secs {
                return Refresh::RateLimited;
            }
        }
        match self.fetch_locked(&mut st).await {
            Ok(_) => Refresh::Done,
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "JWKS refresh failed");
                Refresh::Failed
            }
        }
    }

    /// Discovery (if needed) and a JWKS fetch; installs the new key set on success.
    async fn fetch_locked(&self, st: &mut FetchState) -> Result<usize, JwksError> {
        st.last_attempt = Some(self.clock.now());
        let jwks_uri = match &st.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let u = self.discover().await?;
                st.jwks_uri = Some(u.clone());
                u
            }
        };
        let doc = self.get_json(&jwks_uri).await?;
        let keys = parse_jwks(&doc, &self.validation.algorithms).map_err(|m| JwksError::document(&jwks_uri, m))?;
        let count = keys.len();
        if count == 0 {
            tracing::warn!(issuer = %self.issuer, %jwks_uri, "the issuer publishes no usable keys");
        }
        let kids = keys.iter().map(|k| k.kid().to_owned()).collect();
        let mut slot = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let generation = slot.generation + 1;
        *slot = Arc::new(KeySet { verifier: TokenVerifier::new(self.validation.clone(), keys), kids, generation });
        drop(slot);
        tracing::debug!(issuer = %self.issuer, keys = count, "JWKS loaded");
        Ok(count)
    }

    /// Reads the issuer metadata and returns its checked `jwks_uri`.
    async fn discover(&self) -> Result<Url, JwksError> {
        let mut first_err = None;
        for url in discovery_urls(&self.issuer_url) {
            let doc = match self.get_json(&url).await {
                Ok(doc) => doc,
                Err(e) => {
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            let found = doc
                .get("issuer")
                .and_then(Value::as_str)
                .ok_or_else(|| JwksError::document(&url, "metadata has no string `issuer`"))?;
            if found != self.issuer {
                return Err(JwksErrorKind::IssuerMismatch {
                    expected: self.issuer.clone(),
                    found: found.chars().take(256).collect(),
                }
                .into());
            }
            let raw = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| JwksError::document(&url, "metadata has no string `jwks_uri`"))?;
            let jwks_uri = Url::parse(raw).map_err(|e| JwksError::document(&url, format!("bad jwks_uri: {e}")))?;
            check_url(&jwks_uri, self.allow_insecure_http)
                .map_err(|m| JwksError::document(&url, format!("bad jwks_uri: {m}")))?;
            return Ok(jwks_uri);
        }
        Err(first_err.unwrap_or_else(|| JwksError::document(&self.issuer_url, "no discovery URL")))
    }

    /// GETs a JSON document with the size cap.
    async fn get_json(&self, url: &Url) -> Result<Value, JwksError> {
        let mut res = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| JwksError::http(url, e))?;
        let status = res.status();
        if !status.is_success() {
            return Err(JwksError::http(url, format!("status {status}")));
        }
        let limit = self.max_response_bytes;
        let too_large = || JwksError::from(JwksErrorKind::TooLarge { url: url.to_string(), limit });
        if res.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| JwksError::http(url, e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| JwksError::document(url, format!("not JSON: {e}")))
    }
}

/// The background task: loads the keys once at start, then refreshes every interval.
/// Holds only a weak reference, so it ends when the authenticator is dropped.
async fn run_refresher(weak: Weak<Inner>) {
    // Initial load, retried while nothing is loaded yet.
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let retry = inner.min_refresh_interval;
        if inner.snapshot().generation > 0 {
            break;
        }
        if let Refresh::Done = inner.refresh_on_demand(0).await {
            break;
        }
        drop(inner);
        tokio::time::sleep(retry).await;
    }
    let Some(period) = weak.upgrade().map(|i| i.refresh_interval) else {
        return;
    };
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let mut st = inner.fetch.lock().await;
        if let Err(e) = inner.fetch_locked(&mut st).await {
            tracing::warn!(issuer = %inner.issuer, error = %e, "periodic JWKS refresh failed; keeping cached keys");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWKS parsing and claim mapping

/// The usable verifying keys of a JWKS document. Keys that are not for signatures, have no
/// `kid`, use an algorithm outside `allowed`, or cannot be parsed are skipped.
fn parse_jwks(doc: &Value, allowed: &[Algorithm]) -> Result<Vec<VerifyingKey>, String> {
    let keys = doc.get("keys").and_then(Value::as_array).ok_or("no `keys` array")?;
    let mut out = Vec::new();
    for jwk in keys {
        match usable_key(jwk, allowed) {
            Ok(k) => out.push(k),
            Err(why) => {
                let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("-");
                tracing::debug!(kid, why, "skipping JWK");
            }
        }
    }
    Ok(out)
}

fn usable_key(jwk: &Value, allowed: &[Algorithm]) -> Result<VerifyingKey, &'static str> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return Err("not a signature key");
    }
    if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array) {
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Err("key_ops lacks verify");
        }
    }
    if s("kid").is_none_or(str::is_empty) {
        return Err("no kid");
    }
    let alg = match s("alg") {
        Some(name) => name.parse::<Algorithm>().map_err(|_| "unsupported alg")?,
        // Only when the key type admits exactly one algorithm we support.
        None => match (s("kty"), s("crv")) {
            (Some("RSA"), _) => Algorithm::RS256,
            (Some("EC"), Some("P-256")) => Algorithm::ES256,
            (Some("OKP"), Some("Ed25519")) => Algorithm::EdDSA,
            _ => return Err("no alg, and the key type does not determine one"),
        },
    };
    if !allowed.contains(&alg) || !alg.is_asymmetric() {
        return Err("algorithm not pinned");
    }
    let mut jwk = jwk.clone();
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("alg".into(), alg.as_str().into());
    }
    VerifyingKey::from_jwk(&jwk).map_err(|_| "unparseable key")
}

/// The principal for verified `claims`, reading `scp` (string or array) when `scope` is
/// absent and `azp` when `client_id` is.
fn principal_from(token: &str, claims: &AccessClaims) -> Principal {
    let mut p = Principal::from_claims(claims);
    if !claims.scope.trim().is_empty() && !claims.client_id.is_empty() {
        return p;
    }
    let Some(extra) = token
        .split('.')
        .nth(1)
        .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
        .and_then(|raw| serde_json::from_slice::<serde_json::Map<String, Value>>(&raw).ok())
    else {
        return p;
    };
    if claims.scope.trim().is_empty() {
        let names: Vec<&str> = match extra.get("scp") {
            Some(Value::String(s)) => s.split(' ').collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        p.scopes = names.into_iter().filter(|s| is_valid_scope_token(s)).collect::<ScopeSet>();
    }
    if claims.client_id.is_empty() {
        if let Some(azp) = extra.get("azp").and_then(Value::as_str) {
            p.client_id = azp.to_owned();
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use gatehouse_core::{AccessClaims, Audience, SigningKey, Subject};
    use serde_json::json;

    use super::*;

    fn builder() -> JwksAuthenticatorBuilder {
        JwksAuthenticator::builder("https://issuer.example").audience("api")
    }

    fn config_setting(b: JwksAuthenticatorBuilder) -> &'static str {
        match b.build().map(|_| ()).unwrap_err().kind() {
            JwksErrorKind::Config { setting, .. } => setting,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_configuration_fails_at_build_time() {
        assert!(builder().build().is_ok());
        assert_eq!(config_setting(JwksAuthenticator::builder("not a url").audience("a")), "issuer");
        assert_eq!(config_setting(JwksAuthenticator::builder("http://idp.example").audience("a")), "issuer");
        assert_eq!(config_setting(JwksAuthenticator::builder("ftp://idp.example").audience("a")), "issuer");
        assert_eq!(config_setting(JwksAuthenticator::builder("https://idp.example?x=1").audience("a")), "issuer");
        assert_eq!(config_setting(JwksAuthenticator::builder("https://u:p@idp.example").audience("a")), "issuer");
        assert_eq!(config_setting(JwksAuthenticator::builder("https://idp.example")), "audience");
        assert_eq!(config_setting(builder().audience("")), "audience");
        assert_eq!(config_setting(builder().algorithms([])), "algorithms");
        assert_eq!(config_setting(builder().algorithms([Algorithm::RS256, Algorithm::HS256])), "algorithms");
        assert_eq!(config_setting(builder().required_typ(Some(""))), "required_typ");
        assert_eq!(config_setting(builder().jwks_uri("http://idp.example/k")), "jwks_uri");
        assert_eq!(config_setting(builder().min_refresh_interval(Duration::from_millis(10))), "min_refresh_interval");
        assert_eq!(config_setting(builder().refresh_interval(Duration::from_secs(5))), "refresh_interval");
        assert_eq!(config_setting(builder().http_timeout(Duration::ZERO)), "http_timeout");
        assert_eq!(config_setting(builder().max_response_bytes(0)), "max_response_bytes");
        assert_eq!(config_setting(builder().leeway(Duration::from_secs(7200))), "leeway");
    }

    #[test]
    fn plain_http_is_allowed_on_loopback_or_when_asked() {
        for ok in ["http://127.0.0.1:8000", "http://localhost:8000/realms/x", "http://[::1]:9000"] {
            assert!(JwksAuthenticator::builder(ok).audience("a").build().is_ok(), "{ok}");
        }
        assert!(JwksAuthenticator::builder("http://gatehouse:8000")
            .audience("a")
            .allow_insecure_http(true)
            .build()
            .is_ok());
    }

    #[test]
    fn discovery_urls_follow_both_specs() {
        let urls = |i: &str| -> Vec<String> {
            discovery_urls(&Url::parse(i).unwrap()).into_iter().map(String::from).collect()
        };
        assert_eq!(
            urls("https://a.example"),
            [
                "https://a.example/.well-known/openid-configuration",
                "https://a.example/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            urls("https://kc.example/realms/main/"),
            [
                "https://kc.example/realms/main/.well-known/openid-configuration",
                "https://kc.example/.well-known/oauth-authorization-server/realms/main"
            ]
        );
    }

    fn jwk_of(alg: Algorithm) -> Value {
        SigningKey::generate(alg).unwrap().verifying_key().jwk().unwrap().clone()
    }

    #[test]
    fn jwks_parsing_keeps_only_usable_signature_keys() {
        let all = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
        let rsa = jwk_of(Algorithm::RS256);
        let ec = jwk_of(Algorithm::ES256);
        let ed = jwk_of(Algorithm::EdDSA);
        let strip_alg = |mut j: Value| {
            j.as_object_mut().unwrap().remove("alg");
            j
        };
        let with = |mut j: Value, k: &str, v: Value| {
            j[k] = v;
            j
        };
        let doc = json!({"keys": [
            strip_alg(rsa.clone()),                                  // inferred RS256
            strip_alg(ec.clone()),                                   // inferred ES256
            strip_alg(ed.clone()),                                   // inferred EdDSA
            with(with(rsa.clone(), "kid", json!("enc")), "use", json!("enc")),
            with(rsa.clone(), "kid", json!("")),
            with(rsa.clone(), "alg", json!("PS256")),
            with(strip_alg(ec.clone()), "crv", json!("P-384")),
            with(ed.clone(), "key_ops", json!(["encrypt"])),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "broken", "alg": "RS256", "n": "!!", "e": "AQAB"},
            "not an object",
        ]});
        let kids: Vec<String> = parse_jwks(&doc, &all).unwrap().iter().map(|k| k.kid().to_owned()).collect();
        assert_eq!(kids, [rsa["kid"].as_str().unwrap(), ec["kid"].as_str().unwrap(), ed["kid"].as_str().unwrap()]);
        // Pinning RS256 only drops the others.
        let only_rsa = parse_jwks(&doc, &[Algorithm::RS256]).unwrap();
        assert_eq!(only_rsa.len(), 1);
        assert_eq!(only_rsa[0].algorithm(), Algorithm::RS256);
        assert!(parse_jwks(&json!({"nokeys": []}), &all).is_err());
    }

    fn claims(scope: &str, client_id: &str) -> AccessClaims {
        AccessClaims {
            iss: "https://issuer.example".into(),
            sub: "00u1".into(),
            aud: Audience::One("api".into()),
            exp: 2,
            iat: 1,
            nbf: None,
            jti: String::new(),
            client_id: client_id.into(),
            scope: scope.into(),
            sid: None,
        }
    }

    fn fake_token(payload: Value) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(payload.to_string().as_bytes()))
    }

    #[test]
    fn principal_mapping_reads_scope_scp_and_azp() {
        let t = fake_token(json!({"scp": ["files.read", "bad scope\"", "files.write"], "azp": "spa"}));
        let p = principal_from(&t, &claims("", ""));
        assert_eq!(p.scopes.to_string(), "files.read files.write");
        assert_eq!(p.client_id, "spa");
        assert_eq!(p.subject, Subject::Other("00u1".into()));

        let t = fake_token(json!({"scp": "User.Read Mail.Send"}));
        assert_eq!(principal_from(&t, &claims("", "c")).scopes.to_string(), "Mail.Send User.Read");

        // `scope` wins over `scp`.
        let t = fake_token(json!({"scp": ["x"]}));
        assert_eq!(principal_from(&t, &claims("a b", "c")).scopes.to_string(), "a b");
    }
}
