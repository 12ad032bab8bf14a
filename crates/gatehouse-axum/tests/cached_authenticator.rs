//! An [`Authenticator`] that answers some credentials at once (`authenticate_cached`) and the
//! rest asynchronously: the router guard and the extractors take the immediate answer, still
//! apply scopes to it, and fall back to the asynchronous path when there is none.

#![allow(clippy::unwrap_used)]

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    routing::get,
    Router,
};
use gatehouse_axum::{
    scopes, AuthError, AuthState, Authenticated, Authenticator, BoxFuture, Credential, RequireScopesLayer, Scoped,
};
use gatehouse_core::{CredentialKind, Principal, ScopeSet, Subject};
use tower::ServiceExt;

scopes! {
    /// Own account.
    pub Me = ["me"];
    /// Reports.
    pub Reports = ["reports"];
}

/// `cached-<scopes>` tokens are answered at once, `revoked` is refused at once, `slow-<scopes>`
/// only through the asynchronous path; every call of each path is counted.
#[derive(Default)]
struct TwoPaths {
    cached_calls: AtomicUsize,
    slow_calls: AtomicUsize,
}

fn principal(who: &str, scopes: &str) -> Arc<Principal> {
    Arc::new(Principal {
        subject: Subject::User(who.into()),
        scopes: ScopeSet::parse(&scopes.replace('.', " ")).unwrap(),
        client_id: "test".into(),
        session_id: None,
        credential_id: None,
        issued_at: 0,
        expires_at: i64::MAX,
        kind: CredentialKind::AccessToken,
    })
}

impl Authenticator for TwoPaths {
    fn authenticate<'a>(&'a self, credential: Credential<'a>) -> BoxFuture<'a, Result<Principal, AuthError>> {
        self.slow_calls.fetch_add(1, Ordering::SeqCst);
        let out = match credential {
            Credential::Bearer(t) => match t.strip_prefix("slow-") {
                Some(scopes) => Ok(Principal::clone(&principal("slow", scopes))),
                None => Err(AuthError::invalid("unknown_token")),
            },
            _ => Err(AuthError::Unsupported),
        };
        Box::pin(async move {
            tokio::task::yield_now().await;
            out
        })
    }

    fn authenticate_cached(&self, credential: &Credential<'_>) -> Option<Result<Arc<Principal>, AuthError>> {
        self.cached_calls.fetch_add(1, Ordering::SeqCst);
        match credential {
            Credential::Bearer(t) if t.starts_with("revoked") => Some(Err(AuthError::invalid("revoked"))),
            Credential::Bearer(t) => t.strip_prefix("cached-").map(|scopes| Ok(principal("cached", scopes))),
            _ => None,
        }
    }
}

fn app(auth: &AuthState) -> Router {
    Router::new()
        .route("/me", get(|u: Scoped<Me>| async move { u.subject.to_string() }))
        .route("/reports", get(|u: Scoped<Reports>| async move { u.subject.to_string() }))
        .route("/whoami", get(|a: Authenticated| async move { a.subject.to_string() }))
        .route_layer(RequireScopesLayer::new(auth.clone(), &["me"]))
        .with_state(auth.clone())
}

async fn get_with(auth: &AuthState, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = app(auth).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let challenge = res.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
    (status, format!("{} {}", String::from_utf8_lossy(&body), challenge.unwrap_or_default()))
}

#[tokio::test]
async fn immediate_answers_are_used_and_still_scoped() {
    let authn = Arc::new(TwoPaths::default());
    let auth = AuthState::new(authn.clone());

    let (status, body) = get_with(&auth, "/me", Some("cached-me")).await;
    assert_eq!((status, body.trim()), (StatusCode::OK, "user:cached"));
    assert_eq!(authn.slow_calls.load(Ordering::SeqCst), 0, "the asynchronous path was not needed");
    assert_eq!(authn.cached_calls.load(Ordering::SeqCst), 1, "the handler's extractor reused the guard's answer");
    let (status, body) = get_with(&auth, "/whoami", Some("cached-me")).await;
    assert_eq!((status, body.trim()), (StatusCode::OK, "user:cached"));
    assert_eq!(authn.cached_calls.load(Ordering::SeqCst), 2, "`Authenticated` behind the guard reused its answer too");

    // The guard's scope and the handler's own scope both apply to an immediate answer.
    let (status, body) = get_with(&auth, "/me", Some("cached-reports")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("insufficient_scope"), "{body}");
    let (status, body) = get_with(&auth, "/reports", Some("cached-me")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("me reports"), "the 403 names the guard's and the handler's scopes: {body}");
    let (status, _) = get_with(&auth, "/reports", Some("cached-me.reports")).await;
    assert_eq!(status, StatusCode::OK);

    // An immediate refusal is a 401 with its reason, and is not retried asynchronously.
    let (status, body) = get_with(&auth, "/whoami", Some("revoked")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("invalid_token"), "{body}");
    assert_eq!(authn.slow_calls.load(Ordering::SeqCst), 0);

    // No credential: 401 without asking the authenticator at all.
    let before = authn.cached_calls.load(Ordering::SeqCst);
    let (status, _) = get_with(&auth, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(authn.cached_calls.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn without_an_immediate_answer_the_authenticator_is_awaited_once() {
    let authn = Arc::new(TwoPaths::default());
    let auth = AuthState::new(authn.clone());

    let (status, body) = get_with(&auth, "/me", Some("slow-me")).await;
    assert_eq!((status, body.trim()), (StatusCode::OK, "user:slow"));
    // The guard awaited it once; the handler's extractor reused the guard's result.
    assert_eq!(authn.slow_calls.load(Ordering::SeqCst), 1);

    let (status, _) = get_with(&auth, "/reports", Some("slow-me")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get_with(&auth, "/me", Some("forged")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(authn.slow_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_malformed_bearer_token_is_refused_as_malformed_whatever_the_cache_says() {
    let authn = Arc::new(TwoPaths::default());
    let auth = AuthState::new(authn.clone());
    // The cache is asked before the characters are checked; its refusal (`revoked`) or its
    // silence must not hide that the token is malformed, and nothing is awaited.
    for token in ["revoked<script>", "slow-me<x>", "unknown\"quote"] {
        let (status, body) = get_with(&auth, "/whoami", Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
        assert!(body.contains("malformed_authorization"), "{token}: {body}");
    }
    // Bytes that are not even UTF-8 (obs-text, which HTTP allows in a header value).
    for raw in [&b"Bearer cached-me\xff"[..], b"Bearer \xc3\x28revoked"] {
        let req = Request::builder()
            .uri("/whoami")
            .header(header::AUTHORIZATION, axum::http::HeaderValue::from_bytes(raw).unwrap())
            .body(Body::empty())
            .unwrap();
        let res = app(&auth).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("malformed_authorization"), "{raw:?}");
    }
    assert_eq!(authn.slow_calls.load(Ordering::SeqCst), 0, "a malformed token never reaches the slow path");
    // The same refusal for a well-formed token keeps its own reason.
    let (status, body) = get_with(&auth, "/whoami", Some("revoked-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("revoked") && !body.contains("malformed"), "{body}");
    // Only a scheme, or an oversized value, is refused before the cache is asked.
    let before = authn.cached_calls.load(Ordering::SeqCst);
    let (status, body) = get_with(&auth, "/whoami", Some(&"a".repeat(9000))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("token_too_large"), "{body}");
    assert_eq!(authn.cached_calls.load(Ordering::SeqCst), before);
}
