//! Test helpers (feature `testing`; enable it in `[dev-dependencies]` only): mint real
//! tokens from a throw-away key, or skip tokens and override the principal — the
//! `app.dependency_overrides[get_current_user] = …` analog.
//!
//! # Example
//! ```
//! use axum::{body::Body, http::{Request, StatusCode}, routing::get, Router};
//! use gatehouse_axum::{scopes, testing::{self, TestKeys}, AuthState, Scoped};
//! use tower::ServiceExt;
//!
//! scopes! { pub Me = ["me"]; }
//!
//! fn app(auth: AuthState) -> Router {
//!     Router::new()
//!         .route("/me", get(|u: Scoped<Me>| async move { u.subject.to_string() }))
//!         .with_state(auth)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // 1. A real token, verified end to end by a matching `AuthState`.
//! let keys = TestKeys::new();
//! let token = keys.mint("user:alice", &["me"]);
//! let res = app(keys.auth_state())
//!     .oneshot(Request::get("/me").header("authorization", format!("Bearer {token}"))
//!         .body(Body::empty()).unwrap())
//!     .await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // 2. No token at all: the principal is injected.
//! let res = app(keys.auth_state())
//!     .layer(testing::OverridePrincipalLayer::new(testing::principal("user:bob", &["me"])))
//!     .oneshot(Request::get("/me").body(Body::empty()).unwrap())
//!     .await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! # }
//! ```

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use axum::extract::Request;
use gatehouse_core::{
    AccessClaims, Algorithm, Audience, Clock, CredentialKind, Principal, ScopeSet, SigningKey, Subject, SystemClock,
    TokenSigner, TokenVerifier, Validation,
};
use tower::{Layer, Service};

use crate::{AuthError, AuthState, Authenticated, Authenticator, BoxFuture, Credential, JwtAuthenticator};

static NEXT_JTI: AtomicU64 = AtomicU64::new(1);

/// The issuer [`TestKeys`] uses unless told otherwise.
pub const TEST_ISSUER: &str = "https://gatehouse.test";
/// The audience [`TestKeys`] uses unless told otherwise.
pub const TEST_AUDIENCE: &str = "test-api";

/// A principal as an access token for `subject` (`"user:<id>"`, `"client:<id>"` or any
/// other `sub`) with `scopes` would produce, valid for an hour from the system clock.
pub fn principal(subject: &str, scopes: &[&str]) -> Principal {
    let now = SystemClock.now();
    Principal {
        subject: Subject::parse(subject),
        scopes: scopes.iter().copied().collect::<ScopeSet>(),
        client_id: "test-client".into(),
        session_id: None,
        credential_id: None,
        issued_at: now,
        expires_at: now + 3600,
        kind: CredentialKind::AccessToken,
    }
}

/// A freshly generated signing key with an issuer and audience, for minting tokens that a
/// matching [`AuthState`] (or a JWKS served from [`TestKeys::jwks`]) accepts.
pub struct TestKeys {
    signer: TokenSigner,
    issuer: String,
    audience: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for TestKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKeys")
            .field("kid", &self.signer.key().kid())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeys {
    /// An Ed25519 key (fast to generate), issuer [`TEST_ISSUER`], audience
    /// [`TEST_AUDIENCE`], the system clock.
    ///
    /// # Panics
    /// If the crypto backend cannot generate a key.
    pub fn new() -> Self {
        Self::with_algorithm(Algorithm::EdDSA)
    }

    /// A fresh key of an asymmetric algorithm (`RS256` takes a moment to generate).
    ///
    /// # Panics
    /// For `HS256`, or if the crypto backend cannot generate a key.
    pub fn with_algorithm(alg: Algorithm) -> Self {
        let key = SigningKey::generate(alg).expect("generating a test signing key");
        Self {
            signer: TokenSigner::new(Arc::new(key)),
            issuer: TEST_ISSUER.into(),
            audience: TEST_AUDIENCE.into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses this issuer (`iss`) for minted tokens and the verifier.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Uses this audience (`aud`) for minted tokens and the verifier.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Uses this clock for `iat`/`exp` of minted tokens and in [`auth_state`](Self::auth_state)
    /// (a `ManualClock` makes expiry tests deterministic).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The signing key (its `kid`, its public half).
    pub fn signing_key(&self) -> &SigningKey {
        self.signer.key()
    }

    /// The JWKS document publishing this key (`{"keys":[…]}`).
    pub fn jwks(&self) -> serde_json::Value {
        gatehouse_core::jwks([self.signer.key().verifying_key()])
    }

    /// The issuer in use.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience in use.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The validation policy matching minted tokens (issuer, audience, this key's algorithm).
    pub fn validation(&self) -> Validation {
        Validation::new(self.issuer.clone(), vec![self.audience.clone()], vec![self.signer.key().algorithm()])
    }

    /// A verifier that accepts tokens minted here.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.validation(), [self.signer.key().verifying_key().clone()])
    }

    /// An [`AuthState`] whose [`JwtAuthenticator`] accepts tokens minted here.
    pub fn auth_state(&self) -> AuthState {
        AuthState::new(Arc::new(JwtAuthenticator::with_clock(self.verifier(), self.clock.clone())))
    }

    /// Starts a token for `subject`: no scopes, valid for 15 minutes from the clock.
    pub fn token(&self, subject: &str) -> TokenMinter<'_> {
        let now = self.clock.now();
        TokenMinter {
            keys: self,
            claims: AccessClaims {
                iss: self.issuer.clone(),
                sub: subject.to_owned(),
                aud: Audience::One(self.audience.clone()),
                exp: now + 900,
                iat: now,
                nbf: None,
                jti: format!("test-{}", NEXT_JTI.fetch_add(1, Ordering::Relaxed)),
                client_id: "test-client".into(),
                scope: String::new(),
                sid: None,
            },
        }
    }

    /// A token for `subject` with `scopes`, valid for 15 minutes.
    pub fn mint(&self, subject: &str, scopes: &[&str]) -> String {
        self.token(subject).scopes(scopes).mint()
    }
}

/// One token being minted by [`TestKeys::token`]; every claim can be changed.
#[derive(Debug)]
pub struct TokenMinter<'a> {
    keys: &'a TestKeys,
    claims: AccessClaims,
}

impl TokenMinter<'_> {
    /// The granted scopes (`scope` claim).
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.claims.scope = scopes.join(" ");
        self
    }

    /// Expires `secs` seconds after the clock's now (negative: already expired).
    pub fn expires_in(mut self, secs: i64) -> Self {
        self.claims.exp = self.keys.clock.now() + secs;
        self
    }

    /// Sets `iat` (Unix seconds).
    pub fn issued_at(mut self, iat: i64) -> Self {
        self.claims.iat = iat;
        self
    }

    /// Sets `nbf` (Unix seconds).
    pub fn not_before(mut self, nbf: i64) -> Self {
        self.claims.nbf = Some(nbf);
        self
    }

    /// Overrides `iss` (to test issuer pinning).
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.claims.iss = iss.into();
        self
    }

    /// Overrides `aud` (to test audience pinning).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.claims.aud = Audience::One(aud.into());
        self
    }

    /// Sets `client_id`. Defaults to `"test-client"`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.claims.client_id = client_id.into();
        self
    }

    /// Sets `sid` (session id).
    pub fn session_id(mut self, sid: impl Into<String>) -> Self {
        self.claims.sid = Some(sid.into());
        self
    }

    /// Sets `jti`.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.claims.jti = jti.into();
        self
    }

    /// The claims as they stand.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// Signs the token (`typ: at+jwt`, this key's `kid`).
    ///
    /// # Panics
    /// If the crypto backend refuses to sign.
    pub fn mint(self) -> String {
        self.keys.signer.sign(&self.claims).expect("signing a test token")
    }
}

/// An [`Authenticator`] that answers every credential — any bearer token, API key or session
/// cookie — with one fixed principal. A request without a credential still gets 401, so the
/// "not authenticated" path stays testable; use [`OverridePrincipalLayer`] to need none.
#[derive(Debug, Clone)]
pub struct OverrideAuthenticator {
    principal: Principal,
}

impl OverrideAuthenticator {
    /// Accepts any credential as `principal`.
    pub fn new(principal: Principal) -> Self {
        Self { principal }
    }
}

impl Authenticator for OverrideAuthenticator {
    fn authenticate<'a>(&'a self, _credential: Credential<'a>) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(std::future::ready(Ok(self.principal.clone())))
    }
}

impl AuthState {
    /// (feature `testing`) State whose authenticator accepts any credential as `principal` —
    /// see [`OverrideAuthenticator`]. Also accepts it in an `X-API-Key` header.
    pub fn fixed(principal: Principal) -> Self {
        Self::new(Arc::new(OverrideAuthenticator::new(principal))).with_api_key_header("x-api-key")
    }
}

/// Makes every request arrive already authenticated as one principal, with no credential
/// needed — the closest analog of overriding `get_current_user`. Scope checks
/// ([`crate::Scoped`], [`crate::RequireScopesLayer`]) still apply to that principal. Add it
/// as the outermost layer of the app under test.
#[derive(Debug, Clone)]
pub struct OverridePrincipalLayer {
    principal: Principal,
}

impl OverridePrincipalLayer {
    /// Authenticates every request as `principal`.
    pub fn new(principal: Principal) -> Self {
        Self { principal }
    }
}

impl<S> Layer<S> for OverridePrincipalLayer {
    type Service = OverridePrincipal<S>;
    fn layer(&self, inner: S) -> Self::Service {
        OverridePrincipal { inner, principal: self.principal.clone() }
    }
}

/// The service made by [`OverridePrincipalLayer`].
#[derive(Debug, Clone)]
pub struct OverridePrincipal<S> {
    inner: S,
    principal: Principal,
}

impl<S: Service<Request>> Service<Request> for OverridePrincipal<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        req.extensions_mut().insert(Authenticated::from(self.principal.clone()));
        self.inner.call(req)
    }
}
