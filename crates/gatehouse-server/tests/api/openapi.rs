//! The OpenAPI document: 3.1, security schemes, and per-operation scopes that match what
//! the server actually enforces (docs cannot drift from enforcement unnoticed).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn document_lists_schemes_and_every_known_scope() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.send_json(Method::PUT, "/admin/roles/reporter", &admin, &json!({"scopes": ["reports:read"]})).await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["oauth2"]["flows"]["password"]["tokenUrl"], "/token");
    let scopes = schemes["oauth2"]["flows"]["password"]["scopes"].as_object().unwrap();
    for s in ["me", "admin", "reports:read"] {
        assert!(scopes.contains_key(s), "{s} missing from the password flow");
    }
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        doc["paths"]["/users/me"]["get"]["security"],
        json!([{"oauth2": ["me"]}, {"bearer": ["me"]}, {"api_key": ["me"]}])
    );
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
}

#[tokio::test]
async fn documented_scopes_are_the_enforced_scopes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // A user whose token holds only an unrelated scope.
    app.send_json(Method::PUT, "/admin/roles/outsider", &admin, &json!({"scopes": ["unrelated"]})).await;
    app.create_user(&admin, "outsider", &["outsider"]).await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let (mut checked, mut public) = (0, 0);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000").replace("{name}", "some-role");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // A fresh token each time: some operations (logout) end the one they are called with.
            let token = app.tokens("outsider", PASSWORD, None).await["access_token"].as_str().unwrap().to_owned();
            let r = app.http.request(m, app.url(&concrete)).bearer_auth(&token).json(&json!({})).send().await.unwrap();
            match op.get("security") {
                Some(sec) => {
                    let documented: Vec<&str> =
                        sec[0]["oauth2"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
                    if documented.is_empty() {
                        // Authentication only: the outsider gets through, an anonymous caller does not.
                        assert!(r.status().is_success(), "{method} {path}: {}", r.status());
                        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                        let anon = app.http.request(m, app.url(&concrete)).send().await.unwrap();
                        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
                        continue;
                    }
                    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
                    let challenge = www_auth(&r);
                    assert_eq!(
                        challenge,
                        format!(r#"Bearer error="insufficient_scope", scope="{}""#, documented.join(" ")),
                        "{method} {path}"
                    );
                    checked += 1;
                }
                None => {
                    assert_ne!(r.status(), StatusCode::FORBIDDEN, "{method} {path} is enforced but documented as open");
                    // Nor does an anonymous caller get asked for a bearer token (client
                    // authentication's `Basic` challenge on /token/* is its own matter).
                    let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                    let anon = app.http.request(m, app.url(&concrete)).json(&json!({})).send().await.unwrap();
                    assert!(
                        !www_auth(&anon).starts_with("Bearer"),
                        "{method} {path} is guarded but documented as open"
                    );
                    public += 1;
                }
            }
        }
    }
    assert!(checked >= 11, "only {checked} secured operations checked");
    assert!(public >= 8, "only {public} public operations checked");
}

#[test]
fn every_documented_operation_declares_who_may_call_it() {
    let coverage = gatehouse_server::openapi::coverage();
    assert!(coverage.is_complete(), "{coverage:?}");
    assert!(coverage.unmatched.is_empty(), "declared but not documented: {:?}", coverage.unmatched);
}

#[test]
fn the_api_key_scheme_is_the_declared_source() {
    use gatehouse_axum::{ApiKeyLocation, ApiKeySource};
    use gatehouse_server::openapi::XApiKey;
    let doc = serde_json::to_value(gatehouse_server::openapi::document(&[])).unwrap();
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["name"], XApiKey::NAME);
    assert_eq!(scheme["in"], "header");
    assert_eq!(XApiKey::LOCATION, ApiKeyLocation::Header);
    // Every scope an operation requires is offered by the password flow, even with no roles.
    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["password"]["scopes"];
    for scope in ["me", "admin"] {
        assert!(flow.get(scope).is_some(), "{scope} missing from {flow}");
    }
}

#[tokio::test]
async fn documented_declarations_are_the_routers_own() {
    // The router enforces what `startup::routes` declares; `/openapi.json` documents
    // `openapi::declarations()`. They must be the same list, so the docs cannot drift.
    let app = spawn_app().await;
    let key = |d: &gatehouse_axum::RouteSecurity| format!("{} {:?} {:?}", d.path, d.methods, d.access);
    let mut enforced: Vec<String> =
        gatehouse_server::startup::routes(app.state.auth.clone()).declarations().iter().map(key).collect();
    let mut documented: Vec<String> = gatehouse_server::openapi::declarations().iter().map(key).collect();
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    // Routes the document does not describe (`/metrics`, `/openapi.json`, the OIDC alias of
    // the metadata) need no declaration there; every described one must match the router's.
    enforced.retain(|k| paths.contains_key(k.split(' ').next().unwrap()));
    enforced.sort();
    documented.sort();
    assert!(enforced.len() > 20, "{enforced:?}");
    assert_eq!(enforced, documented);
}
