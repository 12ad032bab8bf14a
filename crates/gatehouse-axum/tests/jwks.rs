//! `JwksAuthenticator` against a tiny issuer on 127.0.0.1: discovery, JWKS caching, pinning,
//! rotation, the refresh rate limit and the background refresh.

#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, RwLock,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::State,
    http::{header, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use gatehouse_axum::{
    jwks::{JwksAuthenticator, JwksAuthenticatorBuilder, JwksErrorKind},
    testing::TestKeys,
    AuthError, AuthState, Authenticated,
};
use gatehouse_core::{Algorithm, Clock, ManualClock, SystemClock};
use serde_json::{json, Value};
use tower::ServiceExt;

const AUD: &str = "reports-api";

/// What the fake issuer serves, and how often it was asked.
#[derive(Default)]
struct Published {
    issuer: RwLock<String>,
    /// Overrides the `issuer` in the metadata (mismatch tests).
    metadata_issuer: RwLock<Option<String>>,
    keys: RwLock<Vec<Value>>,
    /// Serve `/.well-known/openid-configuration` (otherwise 404, forcing the RFC 8414 fallback).
    oidc_discovery: AtomicBool,
    /// Replaces the JWKS body.
    jwks_body: RwLock<Option<String>>,
    oidc_hits: AtomicUsize,
    oauth_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
}

struct FakeIssuer {
    url: String,
    published: Arc<Published>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn metadata(p: &Published) -> Value {
    let iss = p.issuer.read().unwrap().clone();
    let named = p.metadata_issuer.read().unwrap().clone();
    json!({
        "issuer": named.unwrap_or_else(|| iss.clone()),
        "jwks_uri": format!("{iss}/jwks"),
        "token_endpoint": format!("{iss}/token"),
    })
}

async fn oidc(State(p): State<Arc<Published>>) -> Response {
    p.oidc_hits.fetch_add(1, Ordering::SeqCst);
    if !p.oidc_discovery.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(metadata(&p)).into_response()
}

async fn oauth(State(p): State<Arc<Published>>) -> Response {
    p.oauth_hits.fetch_add(1, Ordering::SeqCst);
    Json(metadata(&p)).into_response()
}

async fn jwks(State(p): State<Arc<Published>>) -> Response {
    p.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(body) = p.jwks_body.read().unwrap().clone() {
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    Json(json!({ "keys": *p.keys.read().unwrap() })).into_response()
}

impl FakeIssuer {
    async fn start() -> Self {
        let published = Arc::new(Published::default());
        published.oidc_discovery.store(true, Ordering::SeqCst);
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(oidc))
            .route("/.well-known/oauth-authorization-server", get(oauth))
            .route("/jwks", get(jwks))
            .with_state(published.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        *published.issuer.write().unwrap() = url.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, published, server }
    }

    /// Adds a key to the published JWKS.
    fn publish(&self, keys: &TestKeys) {
        let jwk = keys.jwks()["keys"][0].clone();
        self.published.keys.write().unwrap().push(jwk);
    }

    /// Removes a key from the published JWKS.
    fn retire(&self, keys: &TestKeys) {
        let kid = keys.signing_key().kid().to_owned();
        self.published.keys.write().unwrap().retain(|k| k["kid"] != kid.as_str());
    }

    fn jwks_hits(&self) -> usize {
        self.published.jwks_hits.load(Ordering::SeqCst)
    }

    /// A key whose tokens carry this issuer and audience, on `clock`.
    fn keys(&self, clock: &Arc<ManualClock>) -> TestKeys {
        TestKeys::with_algorithm(Algorithm::EdDSA).with_issuer(&self.url).with_audience(AUD).with_clock(clock.clone())
    }

    fn builder(&self, clock: &Arc<ManualClock>) -> JwksAuthenticatorBuilder {
        JwksAuthenticator::builder(&self.url)
            .audience(AUD)
            .algorithms([Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256])
            .clock(clock.clone())
    }
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemClock.now()))
}

fn reason(r: Result<impl std::fmt::Debug, AuthError>) -> &'static str {
    match r {
        Err(AuthError::Invalid { reason }) => reason,
        other => panic!("expected an invalid-token error, got {other:?}"),
    }
}

/// The same token with another `kid` in its header (the signature no longer matters:
/// an unknown key is refused before any signature check).
fn with_kid(token: &str, kid: &str) -> String {
    let (header, rest) = token.split_once('.').unwrap();
    let mut h: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    h["kid"] = kid.into();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(h.to_string()))
}

fn app(auth: &JwksAuthenticator) -> Router {
    Router::new()
        .route("/whoami", get(|u: Authenticated| async move { u.subject.to_string() }))
        .with_state(AuthState::new(Arc::new(auth.clone())))
}

async fn call(app: &Router, token: &str) -> (StatusCode, String, Option<String>) {
    let res = app
        .clone()
        .oneshot(
            Request::get("/whoami")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let challenge = res.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
}

/// Polls `cond` every 20 ms until it holds or `within` passes.
async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn valid_tokens_are_accepted_and_the_jwks_is_fetched_once() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);
    let auth = idp.builder(&clock).build().unwrap();
    let app = app(&auth);

    for i in 0..25 {
        let token = keys.mint(&format!("user:u{i}"), &["reports:read"]);
        let (status, body, _) = call(&app, &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, format!("user:u{i}"));
    }
    let p = auth.verify(&keys.mint("client:cron", &["reports:read", "reports:write"])).await.unwrap();
    assert_eq!(p.subject.to_string(), "client:cron");
    assert_eq!(p.scopes.to_string(), "reports:read reports:write");
    assert_eq!(p.client_id, "test-client");

    // One discovery and one JWKS fetch for all of that: no per-request fetches.
    assert_eq!(idp.published.oidc_hits.load(Ordering::SeqCst), 1);
    assert_eq!(idp.jwks_hits(), 1);
    assert_eq!(auth.key_ids(), [keys.signing_key().kid()]);
}

#[tokio::test]
async fn tokens_outside_the_pinned_policy_are_rejected() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);
    let auth = idp.builder(&clock).build().unwrap();
    auth.verify(&keys.mint("user:a", &[])).await.unwrap();

    let wrong_aud = keys.token("user:a").audience("other-api").mint();
    assert_eq!(reason(auth.verify(&wrong_aud).await), "invalid_audience");

    let wrong_iss = keys.token("user:a").issuer("https://evil.example").mint();
    assert_eq!(reason(auth.verify(&wrong_iss).await), "invalid_issuer");

    let expired = keys.token("user:a").expires_in(-120).mint();
    assert_eq!(reason(auth.verify(&expired).await), "expired");
    // Expiry follows the injected clock: a token valid now expires later.
    let short = keys.token("user:a").expires_in(60).mint();
    auth.verify(&short).await.unwrap();
    clock.advance(60 + 31);
    assert_eq!(reason(auth.verify(&short).await), "expired");

    // Signed by a key the issuer never published (same iss/aud, unknown kid).
    let stranger = idp.keys(&clock);
    let forged = stranger.mint("user:a", &[]);
    assert_eq!(reason(auth.verify(&forged).await), "unknown_key");

    // A published kid with a foreign signature.
    let tampered = with_kid(&forged, keys.signing_key().kid());
    assert_eq!(reason(auth.verify(&tampered).await), "bad_signature");

    // Through HTTP: RFC 6750 401 with the challenge.
    let (status, body, challenge) = call(&app(&auth), &wrong_aud).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_token""#));
    assert!(body.contains("invalid_audience"), "{body}");

    // Only the one fetch from the start plus at most one for the unknown kid.
    assert!(idp.jwks_hits() <= 2, "{} JWKS fetches", idp.jwks_hits());
}

#[tokio::test]
async fn key_rotation_is_picked_up_on_demand_within_the_rate_limit() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let old = idp.keys(&clock);
    idp.publish(&old);
    let auth = idp.builder(&clock).build().unwrap();
    let old_token = old.mint("user:a", &[]);
    auth.verify(&old_token).await.unwrap();
    assert_eq!(idp.jwks_hits(), 1);

    // The provider rotates: a new key appears after we cached the JWKS.
    let new = idp.keys(&clock);
    idp.publish(&new);
    let new_token = new.mint("user:b", &[]);

    // Within the rate-limit window the unknown kid does not trigger a fetch.
    clock.advance(5);
    assert_eq!(reason(auth.verify(&new_token).await), "unknown_key");
    assert_eq!(idp.jwks_hits(), 1);

    // Once the window has passed, the unknown kid triggers exactly one refresh.
    clock.advance(5);
    let p = auth.verify(&new_token).await.unwrap();
    assert_eq!(p.subject.to_string(), "user:b");
    assert_eq!(idp.jwks_hits(), 2);
    auth.verify(&old_token).await.unwrap();
    assert_eq!(idp.jwks_hits(), 2);

    // The old key is retired at the provider: after the next refresh it is no longer trusted.
    idp.retire(&old);
    assert_eq!(auth.refresh().await.unwrap(), 1);
    assert_eq!(reason(auth.verify(&old_token).await), "unknown_key");
    auth.verify(&new_token).await.unwrap();
    assert_eq!(auth.key_ids(), [new.signing_key().kid()]);
}

#[tokio::test]
async fn a_flood_of_forged_kids_costs_at_most_one_fetch_per_interval() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);
    let auth = idp.builder(&clock).build().unwrap();
    let good = keys.mint("user:a", &[]);
    auth.verify(&good).await.unwrap();
    assert_eq!(idp.jwks_hits(), 1);

    async fn flood(auth: &JwksAuthenticator, good: &str, round: usize) {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..200 {
            let auth = auth.clone();
            let forged = with_kid(good, &format!("forged-{round}-{i}"));
            set.spawn(async move { auth.verify(&forged).await });
        }
        while let Some(r) = set.join_next().await {
            assert_eq!(reason(r.unwrap()), "unknown_key");
        }
    }

    // Right after the initial load: no fetch at all.
    flood(&auth, &good, 0).await;
    assert_eq!(idp.jwks_hits(), 1);

    // A new interval: 200 concurrent forged kids share one fetch.
    clock.advance(11);
    flood(&auth, &good, 1).await;
    assert_eq!(idp.jwks_hits(), 2);

    // Still inside that interval: nothing more.
    clock.advance(9);
    flood(&auth, &good, 2).await;
    assert_eq!(idp.jwks_hits(), 2);

    // Genuine tokens were never affected.
    auth.verify(&good).await.unwrap();
    assert_eq!(idp.jwks_hits(), 2);
}

#[tokio::test]
async fn discovery_falls_back_to_rfc8414_metadata() {
    let idp = FakeIssuer::start().await;
    idp.published.oidc_discovery.store(false, Ordering::SeqCst);
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);
    let auth = idp.builder(&clock).build().unwrap();
    auth.verify(&keys.mint("user:a", &[])).await.unwrap();
    assert_eq!(idp.published.oidc_hits.load(Ordering::SeqCst), 1);
    assert_eq!(idp.published.oauth_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_explicit_jwks_uri_skips_discovery() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);
    let auth = idp.builder(&clock).jwks_uri(format!("{}/jwks", idp.url)).build().unwrap();
    auth.verify(&keys.mint("user:a", &[])).await.unwrap();
    assert_eq!(idp.published.oidc_hits.load(Ordering::SeqCst), 0);
    assert_eq!(idp.published.oauth_hits.load(Ordering::SeqCst), 0);
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn metadata_for_another_issuer_is_refused_and_requests_fail_closed() {
    let idp = FakeIssuer::start().await;
    *idp.published.metadata_issuer.write().unwrap() = Some(format!("{}/", idp.url));
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);
    let auth = idp.builder(&clock).build().unwrap();

    let err = auth.refresh().await.unwrap_err();
    assert!(matches!(err.kind(), JwksErrorKind::IssuerMismatch { found, .. } if found.ends_with('/')), "{err}");
    assert_eq!(idp.jwks_hits(), 0, "keys of a mismatched issuer must not be fetched");
    assert_eq!(auth.verify(&keys.mint("user:a", &[])).await.unwrap_err(), AuthError::Unavailable);
    let (status, _, _) = call(&app(&auth), &keys.mint("user:a", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn an_unreachable_issuer_fails_closed() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let clock = manual_clock();
    let keys = TestKeys::new().with_issuer(&url).with_audience(AUD);
    let auth = JwksAuthenticator::builder(&url)
        .audience(AUD)
        .algorithms([Algorithm::EdDSA])
        .clock(clock.clone())
        .http_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = auth.refresh().await.unwrap_err();
    assert!(matches!(err.kind(), JwksErrorKind::Http { .. }), "{err}");
    let (status, _, _) = call(&app(&auth), &keys.mint("user:a", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn oversized_documents_are_refused() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);
    let padding = "x".repeat(300 * 1024);
    *idp.published.jwks_body.write().unwrap() =
        Some(json!({"keys": keys.jwks()["keys"], "padding": padding}).to_string());
    let auth = idp.builder(&clock).build().unwrap();
    let err = auth.refresh().await.unwrap_err();
    assert!(matches!(err.kind(), JwksErrorKind::TooLarge { limit, .. } if *limit == 256 * 1024), "{err}");
    assert!(auth.key_ids().is_empty());

    // The same document under a raised limit is fine.
    let roomy = idp.builder(&clock).max_response_bytes(1 << 20).build().unwrap();
    assert_eq!(roomy.refresh().await.unwrap(), 1);
}

#[tokio::test]
async fn typ_jwt_and_scp_claims_from_other_providers() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let keys = idp.keys(&clock);
    idp.publish(&keys);

    // A Keycloak/Entra-style token: `typ: JWT`, scopes in `scp`, the client in `azp`.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("JWT".into());
    header.kid = Some(keys.signing_key().kid().to_owned());
    let now = clock.now();
    let claims = json!({
        "iss": idp.url, "sub": "f1d2c3", "aud": [AUD, "account"], "iat": now, "exp": now + 300,
        "azp": "web-app", "scp": ["reports:read", "reports:export"],
    });
    let pem = keys.signing_key().private_pem().unwrap();
    let token =
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap())
            .unwrap();

    let strict = idp.builder(&clock).build().unwrap();
    assert_eq!(reason(strict.verify(&token).await), "wrong_token_type");

    let relaxed = idp.builder(&clock).required_typ(Some("JWT")).build().unwrap();
    let p = relaxed.verify(&token).await.unwrap();
    assert_eq!(p.subject.to_string(), "f1d2c3");
    assert_eq!(p.scopes.to_string(), "reports:export reports:read");
    assert_eq!(p.client_id, "web-app");
    // ... and an `at+jwt` token is then refused by the `JWT`-only verifier.
    assert_eq!(reason(relaxed.verify(&keys.mint("user:a", &[])).await), "wrong_token_type");

    let any = idp.builder(&clock).required_typ(None).build().unwrap();
    any.verify(&token).await.unwrap();
    any.verify(&keys.mint("user:a", &[])).await.unwrap();
}

#[tokio::test]
async fn keys_are_refreshed_in_the_background_without_requests() {
    let idp = FakeIssuer::start().await;
    let clock = manual_clock();
    let first = idp.keys(&clock);
    idp.publish(&first);
    let auth = idp
        .builder(&clock)
        .min_refresh_interval(Duration::from_secs(1))
        .refresh_interval(Duration::from_secs(1))
        .build()
        .unwrap();

    // The initial load happens without any token being presented.
    eventually(Duration::from_secs(10), "initial key load", || !auth.key_ids().is_empty()).await;
    let second = idp.keys(&clock);
    idp.publish(&second);
    idp.retire(&first);
    let want = vec![second.signing_key().kid().to_owned()];
    eventually(Duration::from_secs(10), "periodic refresh", || auth.key_ids() == want).await;
    assert!(idp.jwks_hits() >= 2);
}
