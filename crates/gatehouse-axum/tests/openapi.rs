//! The `openapi` feature: schemes and per-operation security come from the declarations
//! `SecureRouter` enforces, and `Coverage` reports every place they disagree with the document.

#![allow(clippy::unwrap_used)]

use axum::{
    http::Method,
    routing::{delete, get, post},
};
use gatehouse_axum::{
    api_key, basic_realm, openapi::SecuritySchemes, scopes, testing::TestKeys, Access, RouteSecurity, SecureRouter,
};
use serde_json::{json, Value};
use utoipa::openapi::{path::Operation, HttpMethod, OpenApi, PathItem, Paths};

scopes! {
    /// Own account.
    pub Me = ["me"];
    /// Admin area.
    pub Admin = ["admin"];
    /// Reports.
    pub ReportsRead = ["reports:read"];
}
basic_realm! {
    /// The scraper's realm.
    pub Metrics = "metrics";
}
api_key! {
    /// Keys `Authenticated` accepts.
    pub XApiKey = header("X-API-Key");
    /// Partner keys, checked by the handler.
    pub PartnerKey = query("partner_key");
}

/// A document with these operations and nothing else.
fn doc(ops: &[(&str, HttpMethod)]) -> OpenApi {
    let mut doc = OpenApi::new(Default::default(), Paths::new());
    for (path, method) in ops {
        let item = PathItem::new(method.clone(), Operation::new());
        match doc.paths.paths.get_mut(*path) {
            Some(existing) => existing.merge_operations(item),
            None => {
                doc.paths.paths.insert((*path).to_owned(), item);
            }
        }
    }
    doc
}

fn router() -> SecureRouter {
    let admin = SecureRouter::new(TestKeys::new().auth_state())
        .require::<Admin>()
        .route("/users", get(|| async { "" }))
        .scoped::<ReportsRead>("/reports", get(|| async { "" }));
    SecureRouter::new(TestKeys::new().auth_state())
        .public("/token", post(|| async { "" }))
        .scoped::<Me>("/users/me", get(|| async { "" }))
        .basic::<Metrics>("/metrics", get(|| async { "" }))
        .api_key::<PartnerKey>("/feed", get(|| async { "" }))
        .declare(RouteSecurity::new("/session", Access::public()).on([Method::POST]), post(|| async { "" }))
        .declare(RouteSecurity::new("/session", Access::authenticated()).on([Method::DELETE]), delete(|| async { "" }))
        .nest("/admin", admin)
}

fn schemes() -> SecuritySchemes {
    SecuritySchemes::new()
        .oauth2_password("oauth2", "/token", [("me", "your account"), ("extra", "granted by a role")])
        .bearer("bearer", Some("JWT"))
        .api_key::<XApiKey>("api_key")
        .describe("api_key", "personal keys")
        .api_key_only::<PartnerKey>("partner")
        .basic::<Metrics>("metrics_basic")
}

fn full_doc() -> OpenApi {
    doc(&[
        ("/token", HttpMethod::Post),
        ("/users/me", HttpMethod::Get),
        ("/metrics", HttpMethod::Get),
        ("/feed", HttpMethod::Get),
        ("/session", HttpMethod::Post),
        ("/session", HttpMethod::Delete),
        ("/admin/users", HttpMethod::Get),
        ("/admin/reports", HttpMethod::Get),
    ])
}

#[test]
fn schemes_come_from_the_declared_types() {
    let mut d = full_doc();
    let coverage = schemes().apply(&mut d, &router().declarations());
    assert!(coverage.is_complete(), "{coverage:?}");
    let v = serde_json::to_value(&d).unwrap();
    let s = &v["components"]["securitySchemes"];

    // Every scope a route enforces is in the password flow, described or not.
    let flow = &s["oauth2"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "/token");
    assert_eq!(flow["scopes"]["me"], "your account");
    assert_eq!(flow["scopes"]["extra"], "granted by a role");
    for scope in ["admin", "reports:read"] {
        assert!(flow["scopes"].get(scope).is_some(), "{scope} missing: {flow}");
    }
    assert_eq!(s["bearer"], json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}));
    assert_eq!(
        s["api_key"],
        json!({"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "personal keys"})
    );
    assert_eq!(s["partner"], json!({"type": "apiKey", "in": "query", "name": "partner_key"}));
    assert_eq!(s["metrics_basic"]["scheme"], "basic");
    assert!(s["metrics_basic"]["description"].as_str().unwrap().contains("metrics"));
}

#[test]
fn each_operation_lists_what_its_route_enforces() {
    let mut d = full_doc();
    schemes().apply(&mut d, &router().declarations());
    let v = serde_json::to_value(&d).unwrap();
    let sec = |path: &str, method: &str| v["paths"][path][method].get("security").cloned();

    assert_eq!(sec("/token", "post"), None);
    assert_eq!(sec("/session", "post"), None);
    let principal = |scopes: Value| Some(json!([{"oauth2": scopes}, {"bearer": scopes}, {"api_key": scopes}]));
    assert_eq!(sec("/session", "delete"), principal(json!([])));
    assert_eq!(sec("/users/me", "get"), principal(json!(["me"])));
    assert_eq!(sec("/admin/users", "get"), principal(json!(["admin"])));
    assert_eq!(sec("/admin/reports", "get"), principal(json!(["admin", "reports:read"])));
    // Basic and standalone API-key routes list only their own scheme.
    assert_eq!(sec("/metrics", "get"), Some(json!([{"metrics_basic": []}])));
    assert_eq!(sec("/feed", "get"), Some(json!([{"partner": []}])));
}

#[test]
fn coverage_reports_every_disagreement() {
    // An undeclared operation, a declared route that is not documented, and a Basic route
    // whose scheme was never registered.
    let mut d = doc(&[("/users/me", HttpMethod::Get), ("/orphan", HttpMethod::Get), ("/metrics", HttpMethod::Get)]);
    let coverage = SecuritySchemes::new().bearer("bearer", None).apply(&mut d, &router().declarations());
    assert!(!coverage.is_complete());
    assert_eq!(coverage.undeclared, vec!["GET /orphan"]);
    assert_eq!(coverage.unregistered, vec!["GET /metrics"]);
    assert!(coverage.unmatched.contains(&"/token".to_owned()), "{coverage:?}");
    assert!(coverage.conflicting.is_empty());
    let v = serde_json::to_value(&d).unwrap();
    assert!(v["paths"]["/orphan"]["get"].get("security").is_none());

    // Two declarations for one path that do not say which method is whose.
    let auth = TestKeys::new().auth_state();
    let ambiguous = SecureRouter::<()>::new(auth)
        .public("/session", post(|| async { "" }))
        .route("/session", delete(|| async { "" }));
    let mut d = doc(&[("/session", HttpMethod::Post), ("/session", HttpMethod::Delete)]);
    let coverage = schemes().apply(&mut d, &ambiguous.declarations());
    assert_eq!(coverage.conflicting, vec!["POST /session", "DELETE /session"]);
}

#[test]
fn requirements_for_an_access_level() {
    let s = schemes();
    assert!(matches!(s.requirements(&Access::public()), Ok(None)));
    assert_eq!(s.requirements(&Access::scopes::<Me>()).unwrap().unwrap().len(), 3);
    let unknown = Access::ApiKey { location: gatehouse_axum::ApiKeyLocation::Cookie, name: "nope" };
    assert!(matches!(s.requirements(&unknown), Err(a) if a == unknown));
}
