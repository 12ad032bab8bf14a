//! The `testing` helpers, used the way an application's handler tests would use them:
//! `Router::oneshot`, no sockets.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode},
    routing::get,
    Router,
};
use gatehouse_axum::{
    scopes,
    testing::{self, OverridePrincipalLayer, TestKeys},
    AuthState, RequireScopesLayer, Scoped,
};
use gatehouse_core::{Clock, ManualClock, SystemClock};

use tower::ServiceExt;

scopes! {
    /// Read reports.
    pub ReportsRead = ["reports:read"];
}

/// The application under test: one scoped route, and an admin area guarded on the router.
fn app(auth: AuthState) -> Router {
    let admin = Router::new()
        .route("/admin/stats", get(|| async { "42" }))
        .layer(RequireScopesLayer::new(auth.clone(), &["admin"]));
    Router::new()
        .route("/reports", get(|u: Scoped<ReportsRead>| async move { format!("reports for {}", u.subject) }))
        .merge(admin)
        .with_state(auth)
}

async fn get_as(app: Router, path: &str, auth: Option<(&str, &str)>) -> (StatusCode, String) {
    let mut req = Request::get(path);
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

async fn get_bearer(app: Router, path: &str, token: &str) -> (StatusCode, String) {
    let (name, value) = bearer(token).unwrap();
    get_as(app, path, Some((name, &value))).await
}

#[tokio::test]
async fn minted_tokens_are_verified_end_to_end() {
    let keys = TestKeys::new();
    let state = keys.auth_state();

    let ok = keys.mint("user:alice", &["reports:read"]);
    assert_eq!(
        get_bearer(app(state.clone()), "/reports", &ok).await,
        (StatusCode::OK, "reports for user:alice".into())
    );

    let no_scope = keys.mint("user:alice", &["me"]);
    let (status, body) = get_bearer(app(state.clone()), "/reports", &no_scope).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("insufficient_scope"), "{body}");

    let other_audience = keys.token("user:alice").audience("elsewhere").mint();
    let (status, _) = get_bearer(app(state.clone()), "/reports", &other_audience).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Tokens from another TestKeys (another key) are not accepted.
    let stranger = TestKeys::new().mint("user:alice", &["reports:read"]);
    let (status, _) = get_bearer(app(state), "/reports", &stranger).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expiry_follows_an_injected_clock() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let keys = TestKeys::new().with_clock(clock.clone());
    let token = keys.token("user:alice").scopes(&["reports:read"]).expires_in(60).mint();
    let state = keys.auth_state();
    assert_eq!(get_bearer(app(state.clone()), "/reports", &token).await.0, StatusCode::OK);
    clock.advance(60 + 31); // past expiry plus the default 30 s leeway
    let (status, body) = get_bearer(app(state), "/reports", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("expired"), "{body}");
}

#[tokio::test]
async fn fixed_auth_state_accepts_any_credential_as_the_principal() {
    let state = AuthState::fixed(testing::principal("user:bob", &["reports:read"]));

    let (status, body) = get_bearer(app(state.clone()), "/reports", "anything-at-all").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "reports for user:bob"));

    let (status, _) = get_as(app(state.clone()), "/reports", Some(("x-api-key", "k"))).await;
    assert_eq!(status, StatusCode::OK);

    // No credential: still 401, so the unauthenticated path stays testable.
    let (status, _) = get_as(app(state.clone()), "/reports", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Scopes are still checked against the overridden principal.
    let (status, _) = get_bearer(app(state), "/admin/stats", "anything").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn override_layer_needs_no_credential_and_keeps_scope_checks() {
    // The real verifier is in place; the override sits in front of it.
    let state = TestKeys::new().auth_state();

    let admin = testing::principal("user:root", &["admin", "reports:read"]);
    let app_as_admin = app(state.clone()).layer(OverridePrincipalLayer::new(admin));
    assert_eq!(get_as(app_as_admin.clone(), "/reports", None).await, (StatusCode::OK, "reports for user:root".into()));
    assert_eq!(get_as(app_as_admin, "/admin/stats", None).await, (StatusCode::OK, "42".into()));

    let reader = testing::principal("user:carol", &["reports:read"]);
    let app_as_reader = app(state).layer(OverridePrincipalLayer::new(reader));
    let (status, body) = get_as(app_as_reader, "/admin/stats", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("admin"), "{body}");
}

#[test]
fn test_keys_publish_only_public_material() {
    let keys = TestKeys::new();
    let jwks = keys.jwks();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kid"], keys.signing_key().kid());
    assert!(jwk.get("d").is_none());
    assert!(!format!("{keys:?}").contains("PRIVATE"));
}
